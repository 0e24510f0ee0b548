/** Sizes as people read them, the same in `kdq runs`, `kdq runs rm` and `kdq cache ls NAME`. */

/** A size for people: `512 B`, `340.0 KiB`, `1.2 MiB`, `3.4 GiB` (powers of 1,024). */
export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
