/**
 * The teacher's cache key: the sha256 of every file it reads plus its settings and runtime.
 * Editing one weight shard changes it; moving the folder or writing a default out does not.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teacherIdentity, teacherKey } from '../../src/teacher/index.ts';
import { fixture, PYTORCH, rejection } from './fixtures.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'kdq-teacher-key-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const keyOf = async (path: string, settings = {}) => teacherKey(await teacherIdentity(path, settings)).value;

describe('teacherIdentity', () => {
  it('lists every file with its sha256 and fills in the defaults of the format, loading no runtime', async () => {
    const id = await teacherIdentity(fixture('tfjs-cnn/model.json'));
    expect(id.format).toBe('tfjs-layers');
    expect(id.files.map((f) => f.name)).toEqual(['model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin']);
    expect(id.settings).toEqual({ inputLayout: 'nhwc', output: 'auto', scale: 1, mean: 0, std: 1 });
    const onnx = await teacherIdentity(fixture('cnn-external.onnx'), { mean: 0.1307, std: 0.3081 });
    expect(onnx.files.map((f) => f.name)).toEqual(['cnn-external.onnx', 'cnn-external.weights']);
    expect(onnx.settings.inputLayout).toBe('nchw');
    expect(onnx.runtime).toMatch(/^onnxruntime-node 1\.31\./);
    expect((await teacherIdentity(fixture('cnn-logits.onnx'))).files[0]!.sha256).toBe(PYTORCH.files['cnn-logits.onnx']!.sha256);
    // Only the runtime's package.json was read, not its 47 MB native library.
    expect(Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('onnxruntime-node'))).toEqual([
      expect.stringMatching(/onnxruntime-node\/package\.json$/),
    ]);
  });

  it("names each file in the key's details, by its sha256", async () => {
    const { details } = teacherKey(await teacherIdentity(fixture('tfjs-cnn/model.json')));
    expect(Object.keys(details).sort()).toEqual(['file:group1-shard1of2.bin', 'file:group1-shard2of2.bin', 'file:model.json', 'format', 'runtime', 'settings']);
  });
});

describe('teacherKey', () => {
  it('changes when one byte of one weight shard changes, and names that shard in the details', async () => {
    const dir = join(tmp, 'edited');
    await cp(fixture('tfjs-cnn'), dir, { recursive: true });
    const before = teacherKey(await teacherIdentity(join(dir, 'model.json')));
    const shard = join(dir, 'group1-shard2of2.bin');
    const bytes = await readFile(shard);
    bytes[100] ^= 1;
    await writeFile(shard, bytes);
    const after = teacherKey(await teacherIdentity(join(dir, 'model.json')));
    expect(after.value).not.toBe(before.value);
    expect(Object.keys(after.details).filter((k) => after.details[k] !== before.details[k])).toEqual(['file:group1-shard2of2.bin']);
  });

  it('does not change when the folder is moved', async () => {
    const dir = join(tmp, 'moved', 'elsewhere');
    await cp(fixture('tfjs-cnn'), dir, { recursive: true });
    expect(await keyOf(join(dir, 'model.json'))).toBe(await keyOf(fixture('tfjs-cnn/model.json')));
  });

  it('changes with every setting that changes the outputs, not with written-out defaults', async () => {
    const path = fixture('cnn-logits.onnx');
    const base = await keyOf(path);
    expect(await keyOf(path, { inputLayout: 'nchw', output: 'auto', scale: 1, mean: 0, std: 1 })).toBe(base);
    expect(await keyOf(path, { mean: [0, 0, 0] })).toBe(base);
    const changed = await Promise.all([
      keyOf(path, { output: 'logits' }),
      keyOf(path, { scale: 255 }),
      keyOf(path, { mean: 0.1307 }),
      keyOf(path, { std: 0.3081 }),
      keyOf(path, { mean: [0.5, 0.4, 0.3] }),
      keyOf(path, { inputLayout: 'nhwc' }),
    ]);
    expect(new Set([base, ...changed]).size).toBe(changed.length + 1);
  });

  it('reports a missing shard or a corrupt ONNX file as the teacher would', async () => {
    const dir = join(tmp, 'no-shard');
    await cp(fixture('tfjs-cnn'), dir, { recursive: true });
    await rm(join(dir, 'group1-shard1of2.bin'));
    expect((await rejection(teacherIdentity(join(dir, 'model.json')))).message).toMatch(/group1-shard1of2\.bin' does not exist/);
    const cut = join(tmp, 'cut.onnx');
    await writeFile(cut, (await readFile(fixture('cnn-logits.onnx'))).subarray(0, 5000));
    expect((await rejection(teacherIdentity(cut))).code).toBe('E_TEACHER');
  });
});
