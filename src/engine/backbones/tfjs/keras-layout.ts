import { LoupeError } from '../../../errors/loupe-error.js';
import type { Tensor } from '../../tensor.js';

/** Keras stores kernels channels-last; Loupe (like PyTorch and ONNX) stores them output-first. */

function dims(t: Tensor, rank: number, what: string): number[] {
  if (t.shape.length !== rank)
    throw new LoupeError('SHAPE_MISMATCH', `${what} must have rank ${rank}, got [${t.shape.join(', ')}]`);
  return t.shape;
}

/** Conv2D kernel [kh, kw, in, out] (HWIO) → [out, in, kh, kw] (OIHW). */
export function convKernelToOihw(t: Tensor): Tensor {
  const [kh, kw, cin, cout] = dims(t, 4, 'a Conv2D kernel') as [number, number, number, number];
  const out = new Float32Array(t.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + y) * kw + x] = t.data[((y * kw + x) * cin + i) * cout + o]!;
  return { shape: [cout, cin, kh, kw], data: out };
}

/**
 * DepthwiseConv2D kernel [kh, kw, in, mult] → [in·mult, 1, kh, kw]. TensorFlow numbers the
 * outputs c·mult + m, which is also the channel order of a grouped convolution with groups = in.
 */
export function depthwiseKernelToOihw(t: Tensor): Tensor {
  const [kh, kw, cin, mult] = dims(t, 4, 'a DepthwiseConv2D kernel') as [number, number, number, number];
  const out = new Float32Array(t.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < cin; c++)
        for (let m = 0; m < mult; m++)
          out[((c * mult + m) * kh + y) * kw + x] = t.data[((y * kw + x) * cin + c) * mult + m]!;
  return { shape: [cin * mult, 1, kh, kw], data: out };
}

/** Dense kernel [in, out] → [out, in]. */
export function denseKernelToOutIn(t: Tensor): Tensor {
  const [cin, cout] = dims(t, 2, 'a Dense kernel') as [number, number];
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) out[o * cin + i] = t.data[i * cout + o]!;
  return { shape: [cout, cin], data: out };
}
