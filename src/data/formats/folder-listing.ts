/**
 * The image files of a folder dataset: one subfolder per class (class names are the subfolder
 * names, sorted by code point), PNG and JPEG files directly inside each. Listing reads directories
 * only, never an image, and is the cheap part of a probe.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { badFile, unreadable } from './bad-file.ts';
import { stratifiedSplit } from './test-split.ts';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

export interface ListedImage {
  path: string;
  /** `class/file`, the path relative to the split's folder (the cache key uses it, not `path`). */
  rel: string;
  label: number;
}

export interface FolderListing {
  classNames: string[];
  /** The first image of the training folder in sorted order: its header gives the default size and channels. */
  first: ListedImage;
  train: ListedImage[];
  test: ListedImage[];
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const isImage = (name: string) => IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
const FIX_LAYOUT = 'lay the folder out as FOLDER/CLASS_NAME/IMAGE.png, one subfolder per class';

async function entries(dir: string): Promise<{ name: string; isDir: boolean }[]> {
  let list;
  try {
    list = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw unreadable(dir, err, 'check the path (relative paths are relative to the experiment file)');
  }
  const out: { name: string; isDir: boolean }[] = [];
  for (const e of list) {
    if (e.name.startsWith('.')) continue; // .DS_Store, .git and the like
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) isDir = (await stat(join(dir, e.name)).catch(() => null))?.isDirectory() ?? false;
    out.push({ name: e.name, isDir });
  }
  return out.sort((a, b) => byCodePoint(a.name, b.name));
}

/** The class subfolders of `dir` and their images. */
async function listSplit(dir: string): Promise<Map<string, string[]>> {
  const top = await entries(dir);
  const stray = top.find((e) => !e.isDir && isImage(e.name));
  if (stray) throw badFile(join(dir, stray.name), null, 'an image directly in the dataset folder, expected images inside class subfolders', FIX_LAYOUT);
  const classes = new Map<string, string[]>();
  for (const c of top.filter((e) => e.isDir)) {
    const inside = await entries(join(dir, c.name));
    const nested = inside.find((e) => e.isDir);
    if (nested) throw badFile(join(dir, c.name, nested.name), null, 'a folder inside a class folder, expected image files only', FIX_LAYOUT);
    const images = inside.filter((e) => isImage(e.name)).map((e) => e.name);
    if (images.length === 0) {
      const others = inside.length > 0 ? `: its ${inside.length} file(s) are not ${IMAGE_EXTENSIONS.join(', ')}` : '';
      throw badFile(join(dir, c.name), null, `the class folder holds no images${others}`, 'add images of this class, or delete the folder');
    }
    classes.set(c.name, images);
  }
  if (classes.size < 2) {
    throw badFile(dir, null, `found ${classes.size} class subfolder(s), expected at least 2 (a classifier needs 2 classes)`, FIX_LAYOUT);
  }
  return classes;
}

function flatten(dir: string, classes: Map<string, string[]>, names: string[]): ListedImage[] {
  return names.flatMap((c, label) => (classes.get(c) as string[]).map((f) => ({ path: join(dir, c, f), rel: `${c}/${f}`, label })));
}

export interface ListOptions {
  train: string;
  test?: string;
  testSplit?: number;
  seed?: number;
}

/** Lists the training folder and the test folder, or splits the training folder's images by class. */
export async function listFolder(o: ListOptions): Promise<FolderListing> {
  const trainClasses = await listSplit(o.train);
  const classNames = [...trainClasses.keys()];
  const all = flatten(o.train, trainClasses, classNames);
  if (o.test === undefined) {
    const split = stratifiedSplit(
      all.map((f) => f.label),
      classNames.length,
      o.testSplit as number,
      o.seed ?? 0,
      'testSplit',
    );
    return { classNames, first: all[0], train: Array.from(split.train, (i) => all[i]), test: Array.from(split.test, (i) => all[i]) };
  }
  const testClasses = await listSplit(o.test);
  const missing = classNames.filter((c) => !testClasses.has(c));
  const extra = [...testClasses.keys()].filter((c) => !trainClasses.has(c));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      missing.length > 0 ? `lacks ${missing.join(', ')}` : '',
      extra.length > 0 ? `has classes the training folder lacks: ${extra.join(', ')}` : '',
    ];
    throw badFile(
      o.test,
      null,
      `the test folder ${parts.filter(Boolean).join(' and ')}`,
      `both folders need the same class subfolders (the training folder has ${classNames.join(', ')})`,
    );
  }
  return { classNames, first: all[0], train: all, test: flatten(o.test, testClasses, classNames) };
}
