/**
 * Bilinear resize of interleaved (HWC) pixels with TensorFlow's resizeBilinear conventions
 * (alignCorners, halfPixelCenters), written to match tfjs-backend-cpu operation for operation so
 * models trained on tf-resized inputs see the same values here.
 */
export interface PixelRegion {
  /** Interleaved pixels of the whole image. */
  data: ArrayLike<number>;
  width: number;
  height: number;
  channels: number;
  /** Sub-rectangle to resample (defaults to the whole image). */
  left?: number;
  top?: number;
  cropWidth?: number;
  cropHeight?: number;
}

export interface BilinearOptions {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/** Returns outHeight×outWidth×channels float32 values in the source's units (no scaling). */
export function resizeBilinear(
  src: PixelRegion,
  outWidth: number,
  outHeight: number,
  o: BilinearOptions,
): Float32Array {
  const { data, width, channels } = src;
  const left = src.left ?? 0;
  const top = src.top ?? 0;
  const inW = src.cropWidth ?? width - left;
  const inH = src.cropHeight ?? src.height - top;
  const effIn = [
    o.alignCorners && outHeight > 1 ? inH - 1 : inH,
    o.alignCorners && outWidth > 1 ? inW - 1 : inW,
  ];
  const effOut = [
    o.alignCorners && outHeight > 1 ? outHeight - 1 : outHeight,
    o.alignCorners && outWidth > 1 ? outWidth - 1 : outWidth,
  ];
  const rowRatio = effIn[0]! / effOut[0]!;
  const colRatio = effIn[1]! / effOut[1]!;
  // Column sampling positions are the same for every row: compute them once.
  const colLo = new Int32Array(outWidth);
  const colHi = new Int32Array(outWidth);
  const colFrac = new Float64Array(outWidth);
  for (let c = 0; c < outWidth; c++) {
    const f = o.halfPixelCenters ? colRatio * (c + 0.5) - 0.5 : colRatio * c;
    const lo = Math.max(0, Math.floor(f));
    colLo[c] = (left + lo) * channels;
    colHi[c] = (left + Math.min(inW - 1, Math.ceil(f))) * channels;
    colFrac[c] = f - lo;
  }
  const out = new Float32Array(outWidth * outHeight * channels);
  let k = 0;
  for (let r = 0; r < outHeight; r++) {
    const f = o.halfPixelCenters ? rowRatio * (r + 0.5) - 0.5 : rowRatio * r;
    const lo = Math.max(0, Math.floor(f));
    const rowFrac = f - lo;
    const topRow = (top + lo) * width * channels;
    const botRow = (top + Math.min(inH - 1, Math.ceil(f))) * width * channels;
    for (let c = 0; c < outWidth; c++) {
      const cf = colFrac[c]!;
      for (let d = 0; d < channels; d++) {
        const tl = data[topRow + colLo[c]! + d]!;
        const tr = data[topRow + colHi[c]! + d]!;
        const bl = data[botRow + colLo[c]! + d]!;
        const br = data[botRow + colHi[c]! + d]!;
        const t = tl + (tr - tl) * cf;
        const b = bl + (br - bl) * cf;
        out[k++] = t + (b - t) * rowFrac;
      }
    }
  }
  return out;
}
