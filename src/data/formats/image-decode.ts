/**
 * Decoding PNG and JPEG files to raw pixels with sharp (libvips, a prebuilt binary from npm).
 * sharp is imported on first use, so commands that never read an image folder never load it.
 * Alpha is composited over black (a transparent pixel is black, whatever colour it stores);
 * `imageSize` stretches to exactly H x W without keeping the aspect ratio, as Keras'
 * image_dataset_from_directory does by default; EXIF orientation is not applied (nor by Keras).
 */
import { badFile } from './bad-file.ts';

/** What an image decodes to: `height * width * channels` bytes, HWC. */
export interface DecodedImage {
  data: Uint8Array;
  height: number;
  width: number;
}

export interface DecodeTarget {
  channels: 1 | 3;
  /** Resize to [H, W]; absent: keep the file's size. */
  size?: [number, number];
}

/** Decodes one image file; tests substitute a counting one to prove a cache hit decodes nothing. */
export type ImageDecoder = (path: string, target: DecodeTarget) => Promise<DecodedImage>;

/** Size and colour channels from an image's header, without decoding its pixels. */
export interface ImageHeader {
  height: number;
  width: number;
  /** 1 for greyscale (with or without alpha), 3 for colour. */
  channels: 1 | 3;
}

type Sharp = (typeof import('sharp'))['default'];
let loaded: Sharp | null = null;

async function sharpModule(): Promise<Sharp> {
  if (!loaded) {
    loaded = (await import('sharp')).default;
    // Each file is decoded once: libvips' operation cache would only hold memory.
    loaded.cache(false);
  }
  return loaded;
}

const FIX = 'replace or delete the file (kdq reads PNG and JPEG files)';

function unreadableImage(path: string, err: unknown): Error {
  const msg = (err as Error).message ?? String(err);
  return badFile(path, null, `the image cannot be decoded (${msg.split('\n')[0]})`, FIX, err);
}

/** Reads the header of an image file. */
export async function readImageHeader(path: string): Promise<ImageHeader> {
  const sharp = await sharpModule();
  try {
    const m = await sharp(path).metadata();
    if (!m.height || !m.width) throw new Error('no image size in the header');
    return { height: m.height, width: m.width, channels: (m.channels ?? 3) <= 2 ? 1 : 3 };
  } catch (err) {
    throw unreadableImage(path, err);
  }
}

/** The default decoder: sharp, failing on warnings too (a truncated JPEG is an error, not a grey stripe). */
export const sharpDecoder: ImageDecoder = async (path, target) => {
  const sharp = await sharpModule();
  try {
    let p = sharp(path, { failOn: 'warning' });
    if (target.size) p = p.resize({ height: target.size[0], width: target.size[1], fit: 'fill' });
    p = p.flatten({ background: '#000000' });
    p = target.channels === 1 ? p.greyscale() : p.toColourspace('srgb');
    const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== target.channels) throw new Error(`decoded to ${info.channels} channels, expected ${target.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width };
  } catch (err) {
    throw unreadableImage(path, err);
  }
};
