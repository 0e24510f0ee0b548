/**
 * What a model stage (trained here or imported) leaves in its folder, by file name, for the stages
 * that read it: soft labels, exports, evaluations and the report. (The input shape is the
 * dataset's own: Dataset.inputShape.)
 */
/** What a model stage leaves in its folder besides the weights. */
export interface ModelEval {
  params: number;
  /** tf.js accuracy on the test set. */
  accuracy: number;
  per_class_accuracy: (number | null)[];
  test: number;
}

export const WEIGHTS_FILE = 'weights.bin';
export const WEIGHTS_MANIFEST = 'weights.json';
export const TEST_LOGITS = 'test-logits.f32';
export const EVAL_FILE = 'eval.json';
export const HISTORY_FILE = 'history.json';
/** The soft-labels stage's output: the teacher's logits on every training image. */
export const SOFT_LOGITS = 'logits.f32';
