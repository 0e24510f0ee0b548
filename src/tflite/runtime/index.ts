/** Running .tflite files in Google's TFLite runtimes (LiteRT.js and tfjs-tflite) under Node. */
export { RUNTIMES } from './types.ts';
export type { RuntimeName, TensorData, TensorDtype, TensorInfo, TensorQuantization, TfliteInterpreter } from './types.ts';
export { loadTflite } from './load.ts';
export { evaluateTflite } from './evaluate.ts';
export type { EvaluateOptions, TfliteEvaluation, TfliteTestSet } from './evaluate.ts';
export { readIoTensors } from './io-tensors.ts';
export { runtimeVersion } from './runtime-package.ts';
export { evaluateInEveryRuntime, compareOutputs, RUNTIME_TOLERANCE } from './cross-check.ts';
export type { CrossEvaluation, RuntimeOutcome, RuntimeTolerance } from './cross-check.ts';
export { OpVersionRefused } from './refusal.ts';
