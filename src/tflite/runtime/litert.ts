/**
 * LiteRT.js (@litertjs/core), driven through its WASM bindings (loadModel, compileModel,
 * LiteRtTensorBuffer) instead of the package's Tensor/CompiledModel classes. Those classes map only
 * float32, int32 and uint8 ("Element type INT8 is not supported", thrown while the CompiledModel is
 * built), while the bindings take a tensor buffer of any element type: int8 I/O works here. The
 * bindings also let us give a dynamic-batch (-1) input a concrete [1, ...] buffer.
 */
import { readFileSync } from 'node:fs';
import { supportsFeature } from '@litertjs/core';
import { KdqError } from '../../errors.ts';
import { loadEmscriptenFactory, RuntimeLog } from './emscripten-glue.ts';
import { loadRefusal } from './refusal.ts';
import type { IoTensors } from './io-tensors.ts';
import { runtimeFile } from './runtime-package.ts';
import { bytesOf, bytesPerElement, checkInput, checkRunnable, copyOut, elementCount } from './tensor-data.ts';
import type { TensorData, TensorDtype, TfliteInterpreter } from './types.ts';

interface Deletable {
  delete(): void;
}
interface EnumValue {
  value: number;
}
interface VectorOf<T> extends Deletable {
  size(): number;
  get(i: number): T;
  push_back(v: T): void;
}
interface Layout extends Deletable {
  dimensions(): VectorOf<number>;
}
interface RankedTensorType extends Deletable {
  elementType(): EnumValue;
  layout(): Layout;
}
interface Signature extends Deletable {
  inputNames(): VectorOf<string>;
  outputNames(): VectorOf<string>;
}
interface LiteRtModel extends Deletable {
  getNumSignatures(): number;
  getSignature(i: number): Signature;
  getInputTensorType(sig: number, i: number): RankedTensorType;
  getOutputTensorType(sig: number, i: number): RankedTensorType;
}
interface TensorBuffer extends Deletable {
  lock(mode: EnumValue): number;
  unlock(): void;
  size(): number;
}
interface CompiledModel extends Deletable {
  run(sig: number, inputs: TensorBuffer[]): TensorBuffer[] | Promise<TensorBuffer[]>;
}
type Environment = Deletable;
interface LiteRtWasm {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  LiteRtEnvironment: { create(webGpuDevice: null): Environment };
  loadModel(env: Environment, ptr: number, size: number): LiteRtModel;
  compileModel(env: Environment, model: LiteRtModel, options: object): CompiledModel | Promise<CompiledModel>;
  VectorInt32: new () => VectorOf<number>;
  LiteRtLayout: { create(dims: VectorOf<number>): Layout };
  LiteRtRankedTensorType: { create(elementType: EnumValue, layout: Layout): RankedTensorType };
  LiteRtTensorBuffer: { createManaged(env: Environment, type: EnumValue, tensorType: RankedTensorType, bytes: number): TensorBuffer };
  LiteRtTensorBufferType: { HOST_MEMORY: EnumValue };
  LiteRtTensorBufferLockMode: { READ: EnumValue; WRITE: EnumValue };
}

/** litert::ElementType values (litert_model_types.h) of the dtypes kdq feeds. */
const ELEMENT_TYPE: Record<TensorDtype, number> = { float32: 1, int32: 2, uint8: 3, int8: 9 };

const log = new RuntimeLog();
let runtimePromise: Promise<{ wasm: LiteRtWasm; env: Environment }> | undefined;

/** The one WASM instance and environment per process; later calls return the same promise. */
function liteRt(): Promise<{ wasm: LiteRtWasm; env: Environment }> {
  runtimePromise ??= (async () => {
    // The same choice the package's own loader makes: the relaxed-SIMD build where the engine has
    // relaxed SIMD, else the compat build (Node 20). Never the threaded or JSPI builds.
    const name = (await supportsFeature('relaxedSimd')) ? 'litert_wasm_internal' : 'litert_wasm_compat_internal';
    const glue = runtimeFile('litert', `wasm/${name}.js`);
    const wasmBinary = readFileSync(runtimeFile('litert', `wasm/${name}.wasm`));
    const wasm = await loadEmscriptenFactory<LiteRtWasm>(glue)({ wasmBinary, print: log.push, printErr: log.push });
    return { wasm, env: wasm.LiteRtEnvironment.create(null) };
  })().catch((e: unknown) => {
    runtimePromise = undefined;
    throw new KdqError('E_TFLITE', `litert: could not start the LiteRT.js WASM module: ${String(e)}; reinstall @litertjs/core`, {
      cause: e,
    });
  });
  return runtimePromise;
}

function toArray<T>(v: VectorOf<T>): T[] {
  const out = Array.from({ length: v.size() }, (_, i) => v.get(i));
  v.delete();
  return out;
}

/** The runtime's reason for an exception thrown out of WASM, plus what it printed meanwhile. */
function reason(e: unknown): string {
  const printed = log.drain();
  const msg = e instanceof Error ? e.message : String(e);
  return [msg.replace(/\s*\n\s*/g, ' '), ...printed].join('; ');
}

/** Loads already-validated bytes in LiteRT.js. */
export async function loadInLiteRt(bytes: Uint8Array, io: IoTensors): Promise<TfliteInterpreter> {
  const { wasm, env } = await liteRt();
  log.drain();
  // The model keeps pointing into these bytes: they are freed only by close().
  const modelPtr = wasm._malloc(bytes.length);
  wasm.HEAPU8.set(bytes, modelPtr);
  const owned: Deletable[] = [];
  const release = (): void => {
    for (const o of owned.reverse()) o.delete();
    wasm._free(modelPtr);
  };
  try {
    let model: LiteRtModel;
    let compiled: CompiledModel;
    try {
      model = wasm.loadModel(env, modelPtr, bytes.length);
      owned.push(model);
      const c = wasm.compileModel(env, model, { accelerator: 'wasm', cpuOptions: { numThreads: 1 }, gpuOptions: {}, webNNOptions: {} });
      compiled = c instanceof Promise ? await c : c;
      owned.push(compiled);
    } catch (e) {
      throw loadRefusal('litert', bytes.length, reason(e), e);
    }
    const interpreter = makeInterpreter(wasm, env, model, compiled, io, owned, release);
    return interpreter;
  } catch (e) {
    release();
    throw e;
  }
}

function makeInterpreter(
  wasm: LiteRtWasm,
  env: Environment,
  model: LiteRtModel,
  compiled: CompiledModel,
  io: IoTensors,
  owned: Deletable[],
  release: () => void,
): TfliteInterpreter {
  const signature = model.getSignature(0);
  owned.push(signature);
  const inNames = toArray(signature.inputNames());
  const outNames = toArray(signature.outputNames());
  if (inNames.length !== 1 || io.inputs.length !== 1) {
    throw new KdqError('E_TFLITE', `litert: the model has ${io.inputs.length} inputs; kdq runs models with exactly one input`);
  }
  const input = io.inputs[0]!;
  const output = io.outputs[0];
  if (output === undefined || outNames.length !== io.outputs.length) {
    throw new KdqError('E_TFLITE', `litert: the model has ${outNames.length} outputs; kdq needs at least one`);
  }
  checkRunnable(input, 'input', 'litert');
  checkRunnable(output, 'output', 'litert');
  // Without signature_defs LiteRT lists outputs in subgraph order under their tensor names; with
  // them it uses the signature's names, which need not follow subgraph order.
  const outIndex =
    outNames.length === 1 ? 0 : io.outputAliases.size > 0 ? outNames.findIndex((n) => io.outputAliases.get(n) === 0) : outNames.indexOf(output.name);
  if (outIndex < 0) {
    throw new KdqError(
      'E_TFLITE',
      `litert: cannot tell which of the outputs [${outNames.join(', ')}] is tensor "${output.name}"; ` + 'run this model with runtime tfjs-tflite',
    );
  }
  const inType = model.getInputTensorType(0, 0);
  const et = inType.elementType().value;
  inType.delete();
  if (et !== ELEMENT_TYPE[input.dtype]) {
    throw new KdqError('E_INTERNAL', `litert sees input "${input.name}" as element type ${et}, the file says ${input.dtype}`);
  }
  // A buffer of the file's static shape ([1, ...]): LiteRT cannot size a -1 batch by itself.
  const dims = new wasm.VectorInt32();
  for (const d of input.shape) dims.push_back(d);
  const layout = wasm.LiteRtLayout.create(dims);
  dims.delete();
  const tensorType = wasm.LiteRtRankedTensorType.create({ value: et }, layout);
  layout.delete();
  const inBytes = elementCount(input.shape) * bytesPerElement(input.dtype);
  const outBytes = elementCount(output.shape) * bytesPerElement(output.dtype);
  const inBuffer = wasm.LiteRtTensorBuffer.createManaged(env, wasm.LiteRtTensorBufferType.HOST_MEMORY, tensorType, inBytes);
  tensorType.delete();
  owned.push(inBuffer);
  const { READ, WRITE } = wasm.LiteRtTensorBufferLockMode;

  let closed = false;
  return {
    runtime: 'litert',
    inputs: io.inputs,
    outputs: io.outputs,
    run(data: TensorData): TensorData {
      if (closed) throw new KdqError('E_TFLITE', 'litert: run() after close(); load the model again');
      checkInput(data, input, 'litert');
      const ptr = inBuffer.lock(WRITE);
      try {
        wasm.HEAPU8.set(bytesOf(data), ptr);
      } finally {
        inBuffer.unlock();
      }
      let outs: TensorBuffer[] | Promise<TensorBuffer[]>;
      try {
        outs = compiled.run(0, [inBuffer]);
      } catch (e) {
        throw new KdqError('E_TFLITE', `litert: inference failed: ${reason(e)}`, { cause: e });
      }
      if (outs instanceof Promise) {
        // Only the JSPI build runs asynchronously, and it is never loaded.
        throw new KdqError('E_INTERNAL', 'litert: CompiledModel.run returned a promise; the JSPI build must not be loaded');
      }
      try {
        const ob = outs[outIndex]!;
        if (ob.size() < outBytes) {
          throw new KdqError('E_INTERNAL', `litert: output "${output.name}" has ${ob.size()} bytes, expected ${outBytes}`);
        }
        const p = ob.lock(READ);
        try {
          return copyOut(wasm.HEAPU8.subarray(p, p + outBytes), output);
        } finally {
          ob.unlock();
        }
      } finally {
        for (const o of outs) o.delete();
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      release();
    },
  };
}
