/** A dense float32 tensor in row-major order, as the engine, safetensors and ONNX exchange them. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** Named tensors (a model's weights and buffers), keyed like "block1.conv1.weight". */
export type TensorMap = Map<string, Tensor>;

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
