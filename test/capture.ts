/** Test helper: a Writable that collects what is written to it, for the CLI's stdout and stderr. */
import { Writable } from 'node:stream';

export function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

/** Runs the CLI entry in this process with `argv`; returns its exit code and what it printed. */
export async function kdqCli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../src/cli.ts');
  const out = sink();
  const err = sink();
  const code = await main(argv, { stdout: out.stream, stderr: err.stream });
  return { code, out: out.text(), err: err.text() };
}
