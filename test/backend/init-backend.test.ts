import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.ts';
import { backendIdentity } from '../../src/backend/identity.ts';
import { simdVariant } from '../../src/backend/simd/index.ts';
import { KdqError } from '../../src/errors.ts';
import type { BackendName } from '../../src/names.ts';

describe('initBackend', () => {
  it('defaults to wasm with kdq kernels when tfjs-node is not installed, and reports the tf.js version', async () => {
    const info = await initBackend();
    // The same identity stage keys are computed from (kernels: the SIMD build this process runs).
    expect(info).toEqual(backendIdentity());
    expect(info).toEqual({ name: 'wasm', tfjs: '4.22.0', kernels: simdVariant() });
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('is idempotent', async () => {
    const a = await initBackend('wasm');
    const backend = tf.backend();
    const b = await initBackend('wasm');
    expect(b).toEqual(a);
    expect(tf.backend()).toBe(backend);
  });

  it('switches to cpu only when asked, and back', async () => {
    expect((await initBackend('cpu')).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect((await initBackend('wasm')).name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('refuses node with a usage error that says what to do', async () => {
    const err = await initBackend('node').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KdqError);
    expect((err as KdqError).code).toBe('E_USAGE');
    expect((err as KdqError).message).toBe("backend 'node' is not installed: @tensorflow/tfjs-node could not be installed on this machine; use --backend wasm");
    expect(tf.getBackend()).toBe('wasm');
  });

  it('rejects an unknown backend name, listing the valid ones', async () => {
    const err = await initBackend('gpu' as BackendName).catch((e: unknown) => e);
    expect((err as KdqError).code).toBe('E_USAGE');
    expect((err as KdqError).message).toBe("unknown backend 'gpu'; use one of: node, wasm, cpu");
  });
});

describe('nodeAddonBuilt', () => {
  it('needs the native addon, not just the package (npm can keep tfjs-node without running its install script)', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { nodeAddonBuilt, backendIdentity } = await import('../../src/backend/identity.ts');
    const root = mkdtempSync(join(tmpdir(), 'kdq-tfjs-node-'));
    writeFileSync(join(root, 'package.json'), '{"name":"@tensorflow/tfjs-node"}');
    expect(nodeAddonBuilt(root)).toBe(false);
    mkdirSync(join(root, 'lib', 'napi-v8'), { recursive: true });
    expect(nodeAddonBuilt(root)).toBe(false);
    writeFileSync(join(root, 'lib', 'napi-v8', 'tfjs_binding.node'), '');
    expect(nodeAddonBuilt(root)).toBe(true);
    // This machine has no tfjs-node: the default is wasm, and asking for a backend wins.
    expect(nodeAddonBuilt()).toBe(false);
    expect(backendIdentity().name).toBe('wasm');
    expect(backendIdentity('cpu').name).toBe('cpu');
  });
});
