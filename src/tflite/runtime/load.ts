/** Loads .tflite bytes in one of Google's TFLite runtimes. */
import { KdqError } from '../../errors.ts';
import { readIoTensors } from './io-tensors.ts';
import { loadInLiteRt } from './litert.ts';
import { loadInTfjsTflite } from './tfjs-tflite.ts';
import { RUNTIMES, type RuntimeName, type TfliteInterpreter } from './types.ts';

/**
 * Reads the file's inputs and outputs, then loads it in `runtime`. The runtime's WASM module is
 * started on first use and shared by every later call in the process. Throws E_TFLITE for bytes
 * that are not a .tflite file, for models the runtime rejects, and for I/O kdq cannot feed.
 */
export async function loadTflite(bytes: Uint8Array, runtime: RuntimeName): Promise<TfliteInterpreter> {
  if (!RUNTIMES.includes(runtime)) {
    throw new KdqError('E_TFLITE', `unknown TFLite runtime "${String(runtime)}"; use one of: ${RUNTIMES.join(', ')}`);
  }
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
    throw new KdqError('E_TFLITE', 'loadTflite got no bytes; pass the contents of a .tflite file as a Uint8Array');
  }
  const io = readIoTensors(bytes);
  return runtime === 'litert' ? loadInLiteRt(bytes, io) : loadInTfjsTflite(bytes, io);
}
