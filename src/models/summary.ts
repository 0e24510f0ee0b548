/** A plain-data description of a built model, for logs and metrics.json. */
import type * as tf from '@tensorflow/tfjs';

export interface LayerSummary {
  name: string;
  /** tf.js class name, e.g. `Conv2D`. */
  className: string;
  /** Names of the layers it reads (the model's input layer for the first), in order: branches show here. */
  inputs: string[];
  /** Output shape without the batch dimension. */
  outputShape: number[];
  params: number;
}

export interface ModelSummary {
  /** Every weight, including batch-norm moving statistics. */
  params: number;
  trainableParams: number;
  /** Every layer but the input, in the model's order (a topological order for a graph). */
  layers: LayerSummary[];
}

export function modelSummary(model: tf.LayersModel): ModelSummary {
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const layers = model.layers
    .filter((layer) => layer.getClassName() !== 'InputLayer')
    .map((layer) => {
      const shape = layer.outputShape as (number | null)[];
      return {
        name: layer.name,
        className: layer.getClassName(),
        inputs: (layer.inboundNodes[0]?.inboundLayers ?? []).map((l) => l.name),
        outputShape: shape.slice(1).map((d) => d ?? -1),
        params: layer.weights.reduce((n, w) => n + size(w.shape as number[]), 0),
      };
    });
  return {
    params: model.weights.reduce((n, w) => n + size(w.shape as number[]), 0),
    trainableParams: model.trainableWeights.reduce((n, w) => n + size(w.shape as number[]), 0),
    layers,
  };
}
