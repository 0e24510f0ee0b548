/** Image files for the folder tests: PNGs encoded here (so exact pixels are known), JPEGs through sharp. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { crc32 } from '../../../src/data/zip.ts';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** An 8-bit PNG of `channels` 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA); pixels HWC. */
export function png(height: number, width: number, channels: 1 | 2 | 3 | 4, pixels: Uint8Array): Buffer {
  const colorType = { 1: 0, 2: 4, 3: 2, 4: 6 }[channels];
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  const row = width * channels;
  const raw = Buffer.alloc(height * (row + 1));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * row, (y + 1) * row), y * (row + 1) + 1); // filter 0
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Pixels of image `n`: value (n * 29 + index * 5) mod 256, HWC. */
export function imagePixels(n: number, height: number, width: number, channels: number): Uint8Array {
  return Uint8Array.from({ length: height * width * channels }, (_, i) => (n * 29 + i * 5) % 256);
}

export async function writePng(path: string, height: number, width: number, channels: 1 | 2 | 3 | 4, n: number): Promise<Uint8Array> {
  const px = imagePixels(n, height, width, channels);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, png(height, width, channels, px));
  return px;
}

/** A JPEG of a flat colour (JPEG is lossy: flat colours survive it within a few levels). */
export async function writeJpeg(path: string, height: number, width: number, rgb: [number, number, number]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .jpeg({ quality: 95 })
    .toFile(path);
}
