/**
 * The classic TFLite interpreter (tensorflow_lite_support's TFLiteWebModelRunner, XNNPACK delegate)
 * from @tensorflow/tfjs-tflite, driven through its Emscripten module rather than the package's JS
 * bundle: the bundle needs browser globals and tfjs-core 4.9, and its `predict` widens int8 to
 * int32, while the module's tensors are typed views of WASM memory that take int8 as is.
 */
import { readFileSync } from 'node:fs';
import { KdqError } from '../../errors.ts';
import { loadEmscriptenFactory, RuntimeLog } from './emscripten-glue.ts';
import { loadRefusal } from './refusal.ts';
import type { IoTensors } from './io-tensors.ts';
import { runtimeFile } from './runtime-package.ts';
import { bytesOf, checkInput, checkRunnable, copyOut, elementCount } from './tensor-data.ts';
import type { TensorData, TfliteInterpreter } from './types.ts';

interface EmbindObject {
  delete(): void;
}
interface CppVector<T> extends EmbindObject {
  size(): number;
  get(i: number): T;
}
/** TFLiteWebModelRunner's view of one tensor. */
interface CppTensorInfo extends EmbindObject {
  /** A typed array over the tensor's WASM memory (detached when the heap grows: ask each time). */
  data(): TensorData | Int32Array;
  dataType: string;
  name: string;
  /** Comma-separated, e.g. "1,28,28,1". */
  shape: string;
}
interface CppModelRunner extends EmbindObject {
  GetInputs(): CppVector<CppTensorInfo>;
  GetOutputs(): CppVector<CppTensorInfo>;
  Infer(): boolean;
}
interface CppStatusOrRunner extends EmbindObject {
  ok(): boolean;
  errorMessage(): string;
  value(): CppModelRunner;
}
interface TfliteWebModule {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  TFLiteWebModelRunner: {
    CreateFromBufferAndOptions(
      ptr: number,
      size: number,
      options: { numThreads: number; enableProfiling: boolean; maxProfilingBufferEntries: number },
    ): CppStatusOrRunner;
  };
}

const log = new RuntimeLog();
let modulePromise: Promise<TfliteWebModule> | undefined;

/** The one WASM instance per process; later calls return the same promise. */
function wasmModule(): Promise<TfliteWebModule> {
  modulePromise ??= (async () => {
    // The SIMD build: WASM SIMD is always on in Node >= 16.4 (package.json asks for >= 20). The
    // threaded builds need browser Workers.
    const glue = runtimeFile('tfjs-tflite', 'wasm/tflite_web_api_cc_simd.js');
    const wasmBinary = readFileSync(runtimeFile('tfjs-tflite', 'wasm/tflite_web_api_cc_simd.wasm'));
    const factory = loadEmscriptenFactory<TfliteWebModule>(glue);
    return factory({ wasmBinary, print: log.push, printErr: log.push });
  })().catch((e: unknown) => {
    modulePromise = undefined;
    throw new KdqError('E_TFLITE', `tfjs-tflite: could not start the TFLite WASM module: ${String(e)}; reinstall @tensorflow/tfjs-tflite`, {
      cause: e,
    });
  });
  return modulePromise;
}

/** Loads already-validated bytes in tfjs-tflite. */
export async function loadInTfjsTflite(bytes: Uint8Array, io: IoTensors): Promise<TfliteInterpreter> {
  const m = await wasmModule();
  log.drain();
  const modelPtr = m._malloc(bytes.length);
  m.HEAPU8.set(bytes, modelPtr);
  let runner: CppModelRunner | undefined;
  try {
    const status = m.TFLiteWebModelRunner.CreateFromBufferAndOptions(modelPtr, bytes.length, {
      numThreads: 1,
      enableProfiling: false,
      maxProfilingBufferEntries: 0,
    });
    if (!status.ok()) {
      const reasons = log.drain();
      throw loadRefusal('tfjs-tflite', bytes.length, status.errorMessage() + (reasons.length ? `: ${reasons.join('; ')}` : ''));
    }
    runner = status.value();
  } catch (e) {
    m._free(modelPtr);
    if (e instanceof KdqError) throw e;
    throw new KdqError('E_TFLITE', `tfjs-tflite failed while loading the model: ${String(e)}`, { cause: e });
  }
  try {
    return makeInterpreter(m, runner, modelPtr, io);
  } catch (e) {
    runner.delete();
    m._free(modelPtr);
    throw e;
  }
}

function tensorsOf(v: CppVector<CppTensorInfo>): CppTensorInfo[] {
  const out = Array.from({ length: v.size() }, (_, i) => v.get(i));
  v.delete();
  return out;
}

function makeInterpreter(m: TfliteWebModule, runner: CppModelRunner, modelPtr: number, io: IoTensors): TfliteInterpreter {
  const cppIn = tensorsOf(runner.GetInputs());
  const cppOut = tensorsOf(runner.GetOutputs());
  if (cppIn.length !== 1 || io.inputs.length !== 1) {
    throw new KdqError('E_TFLITE', `tfjs-tflite: the model has ${io.inputs.length} inputs; kdq runs models with exactly one input`);
  }
  if (cppOut.length === 0 || cppOut.length !== io.outputs.length) {
    throw new KdqError('E_TFLITE', `tfjs-tflite: the model has ${cppOut.length} outputs; kdq needs at least one`);
  }
  const input = io.inputs[0]!;
  const output = io.outputs[0]!;
  checkRunnable(input, 'input', 'tfjs-tflite');
  checkRunnable(output, 'output', 'tfjs-tflite');
  const cin = cppIn[0]!;
  const cout = cppOut[0]!;
  // The runner resolves a dynamic batch to 1, so its sizes must equal the file's static shape.
  for (const [t, c] of [
    [input, cin],
    [output, cout],
  ] as const) {
    if (c.dataType !== t.dtype || c.data().length !== elementCount(t.shape)) {
      throw new KdqError('E_INTERNAL', `tfjs-tflite sees tensor "${c.name}" as ${c.dataType}[${c.shape}] but the file says ${t.dtype}[${t.shape.join(',')}]`);
    }
  }
  let closed = false;
  return {
    runtime: 'tfjs-tflite',
    inputs: io.inputs,
    outputs: io.outputs,
    run(data: TensorData): TensorData {
      if (closed) throw new KdqError('E_TFLITE', 'tfjs-tflite: run() after close(); load the model again');
      checkInput(data, input, 'tfjs-tflite');
      const view = cin.data();
      new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(bytesOf(data));
      if (!runner.Infer()) {
        throw new KdqError('E_TFLITE', `tfjs-tflite: inference failed: ${log.drain().join('; ') || 'no reason given'}`);
      }
      const out = cout.data();
      return copyOut(new Uint8Array(out.buffer, out.byteOffset, out.byteLength), output);
    },
    close(): void {
      if (closed) return;
      closed = true;
      for (const t of [...cppIn, ...cppOut]) t.delete();
      runner.delete();
      m._free(modelPtr);
    },
  };
}
