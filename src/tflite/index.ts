/**
 * The .tflite file format: plain-data model, writer, reader, inspector, and the export of a tf.js
 * model (float32, float16, dynamic-range, int8). Running files lives in ./runtime/.
 */
export type { TfliteModel, TfliteOperator, TfliteOptions, TfliteQuantization, TfliteSignature, TfliteTensor } from './model.ts';
export { writeTflite } from './writer.ts';
export { readTflite } from './reader.ts';
export { inspectTflite } from './inspect.ts';
export { exportTflite, type ExportMode, type ExportOptions, type ExportSummary } from './export.ts';
