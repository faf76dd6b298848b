import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';

/**
 * Random image augmentation of training batches, with torchvision's meanings: the same numbers
 * in a config give the same distortions as the PyTorch recipes they are copied from.
 */

const range = (lo: z.ZodNumber, hi: z.ZodNumber) =>
  z.tuple([lo, hi]).refine(([a, b]) => a <= b, 'must be [min, max] with min ≤ max');
const fraction = z.number().nonnegative().default(0);

export const imageAugmentSchema = z.strictObject({
  /** Mirror left–right with probability 1/2. */
  flip: z.boolean().default(false),
  /**
   * RandomResizedCrop back to the input size: a crop covering a uniform `scale` of the area, of
   * log-uniform aspect (width/height) in `ratio`, resized bilinearly. Absent: no crop.
   */
  crop: z
    .strictObject({
      scale: range(z.number().gt(0).max(1), z.number().gt(0).max(1)).default([0.08, 1]),
      ratio: range(z.number().positive(), z.number().positive()).default([3 / 4, 4 / 3]),
    })
    .optional(),
  /**
   * Pad this many black pixels on every side and crop the input size back at a random place:
   * a whole-pixel shift of up to ± translate in each direction.
   */
  translate: z.number().int().nonnegative().default(0),
  /** Rotate about the centre by a uniform angle in ± rotation degrees. */
  rotation: z.number().nonnegative().max(180).default(0),
  /**
   * ColorJitter: factors uniform in [max(0, 1 - v), 1 + v], applied in a random order on pixel
   * values in [0, 1] (clamped after each). Saturation only acts on three-channel images.
   */
  colorJitter: z.strictObject({ brightness: fraction, contrast: fraction, saturation: fraction }).optional(),
});

export type ImageAugment = z.output<typeof imageAugmentSchema>;
export type ImageAugmentInput = z.input<typeof imageAugmentSchema>;

/** How the batch was normalised: (pixel / 255 - mean[c]) / std[c], as in image preprocessing. */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/**
 * The same augmentation with every magnitude multiplied by `strength` (hyper-parameter tuning
 * searches this one number): crop bounds move away from the whole image (area 1, aspect 1)
 * proportionally, in log space for the aspect. Strength 0 turns everything off, flips included.
 */
export function scaledImageAugment(base: ImageAugment, strength: number): ImageAugment {
  if (!Number.isFinite(strength) || strength < 0)
    throw new LoupeError('INVALID_ARGUMENT', `augmentation strength must be ≥ 0, got ${strength}`);
  if (strength === 0) return { flip: false, translate: 0, rotation: 0 };
  const k = strength;
  const area = (s: number) => Math.min(1, Math.max(1e-3, 1 - (1 - s) * k));
  const jitter = base.colorJitter;
  return {
    flip: base.flip,
    translate: Math.round(base.translate * k),
    rotation: Math.min(180, base.rotation * k),
    ...(base.crop && {
      crop: {
        scale: [area(base.crop.scale[0]), area(base.crop.scale[1])],
        ratio: [base.crop.ratio[0] ** k, base.crop.ratio[1] ** k],
      },
    }),
    ...(jitter && {
      colorJitter: {
        brightness: jitter.brightness * k,
        contrast: jitter.contrast * k,
        saturation: jitter.saturation * k,
      },
    }),
  };
}

/** torchvision's rgb_to_grayscale weights (ITU-R 601). */
const LUMA = [0.2989, 0.587, 0.114] as const;

const uniform = (random: () => number, lo: number, hi: number) => lo + (hi - lo) * random();
const randint = (random: () => number, lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** RandomResizedCrop.get_params: ten tries at a box that fits, then the centre crop. */
function cropBox(
  h: number,
  w: number,
  crop: NonNullable<ImageAugment['crop']>,
  random: () => number,
): CropBox {
  const area = h * w;
  const logRatio = [Math.log(crop.ratio[0]), Math.log(crop.ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * uniform(random, crop.scale[0], crop.scale[1]);
    const aspect = Math.exp(uniform(random, logRatio[0], logRatio[1]));
    const cw = Math.round(Math.sqrt(target * aspect));
    const ch = Math.round(Math.sqrt(target / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h)
      return { top: randint(random, 0, h - ch), left: randint(random, 0, w - cw), height: ch, width: cw };
  }
  const inRatio = w / h;
  let cw = w;
  let ch = h;
  if (inRatio < crop.ratio[0]) ch = Math.round(w / crop.ratio[0]);
  else if (inRatio > crop.ratio[1]) cw = Math.round(h * crop.ratio[1]);
  return { top: Math.floor((h - ch) / 2), left: Math.floor((w - cw) / 2), height: ch, width: cw };
}

/**
 * Where output pixel (x, y) reads from, in pixel-index coordinates. The crop (and flip) map the
 * frame to the source; rotation and translation act on the frame as one affine map, like
 * torchvision's RandomAffine. Frame position q = (qx0 + cos·x − sin·y, qy0 + sin·x + cos·y);
 * source position (sx0 + sxx·qx, sy0 + syy·qy), its taps clamped to the crop box.
 */
interface Warp {
  cos: number;
  sin: number;
  qx0: number;
  qy0: number;
  sx0: number;
  sxx: number;
  sy0: number;
  syy: number;
  box: CropBox;
}

/** Draws one image's geometry; undefined when it leaves the image as it is. */
function drawWarp(h: number, w: number, o: ImageAugment, random: () => number): Warp | undefined {
  const box = o.crop ? cropBox(h, w, o.crop, random) : { top: 0, left: 0, height: h, width: w };
  const flip = o.flip && random() < 0.5;
  const angle = o.rotation ? (uniform(random, -o.rotation, o.rotation) * Math.PI) / 180 : 0;
  const tx = o.translate ? randint(random, -o.translate, o.translate) : 0;
  const ty = o.translate ? randint(random, -o.translate, o.translate) : 0;
  if (box.height === h && box.width === w && !flip && angle === 0 && tx === 0 && ty === 0) return undefined;
  // Inverse of "rotate counter-clockwise about the centre, then shift by (tx, ty)" (y points down).
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  // Half-pixel centres, as torch's resize with align_corners=False.
  const sxx = box.width / w;
  const syy = box.height / h;
  const sx0 = box.left + 0.5 * sxx - 0.5;
  return {
    cos,
    sin,
    qx0: cx - cos * (cx + tx) + sin * (cy + ty),
    qy0: cy - sin * (cx + tx) - cos * (cy + ty),
    // A flip mirrors the frame before the crop maps it: qx → (w − 1) − qx.
    sx0: flip ? sx0 + sxx * (w - 1) : sx0,
    sxx: flip ? -sxx : sxx,
    sy0: box.top + 0.5 * syy - 0.5,
    syy,
    box,
  };
}

const clampInt = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);

/** Per-batch buffers of axis-aligned warps, so no image allocates: column lookups and two rows. */
interface AxisBuffers {
  x0: Int32Array;
  x1: Int32Array;
  ax: Float64Array;
  rows: [Float64Array, Float64Array];
}

/**
 * Warp without rotation: the frame shift is whole pixels, so a position is either inside the
 * frame or fill, and bilinear sampling separates. Each source row is interpolated across once
 * into a row buffer; output rows then blend two buffers, and consecutive output rows of an
 * enlarged crop share their source rows, so most rows cost one blend per value.
 */
function warpAxisAligned(
  src: Float32Array,
  from: number,
  dst: Float32Array,
  to: number,
  c: number,
  h: number,
  w: number,
  g: Warp,
  fill: Float64Array,
  buffers: AxisBuffers,
): void {
  const { x0, x1, ax } = buffers;
  const { left, top, width, height } = g.box;
  for (let x = 0; x < w; x++) {
    const qx = g.qx0 + x;
    if (qx < 0 || qx > w - 1) {
      x0[x] = -1;
      continue;
    }
    const sx = g.sx0 + g.sxx * qx;
    const fx = Math.floor(sx);
    x0[x] = clampInt(fx, left, left + width - 1);
    x1[x] = clampInt(fx + 1, left, left + width - 1);
    ax[x] = sx - fx;
  }
  const plane = h * w;
  // Fills `row` with source row `r` interpolated at every output column (fill outside the frame).
  const across = (row: Float64Array, r: number, f: number) => {
    for (let x = 0; x < w; x++) {
      const a = x0[x]!;
      row[x] = a < 0 ? f : src[r + a]! + (src[r + x1[x]!]! - src[r + a]!) * ax[x]!;
    }
  };
  for (let ch = 0; ch < c; ch++) {
    const s = from + ch * plane;
    const f = fill[ch]!;
    let [upper, lower] = buffers.rows;
    let upperRow = -1;
    let lowerRow = -1;
    for (let y = 0; y < h; y++) {
      const o = to + ch * plane + y * w;
      const qy = g.qy0 + y;
      if (qy < 0 || qy > h - 1) {
        dst.fill(f, o, o + w);
        continue;
      }
      const sy = g.sy0 + g.syy * qy;
      const fy = Math.floor(sy);
      const ay = sy - fy;
      const r0 = clampInt(fy, top, top + height - 1);
      const r1 = clampInt(fy + 1, top, top + height - 1);
      if (r0 === lowerRow && r0 !== upperRow) {
        [upper, lower] = [lower, upper];
        [upperRow, lowerRow] = [lowerRow, -1];
      }
      if (r0 !== upperRow) {
        across(upper, s + r0 * w, f);
        upperRow = r0;
      }
      if (r1 !== lowerRow) {
        across(lower, s + r1 * w, f);
        lowerRow = r1;
      }
      for (let x = 0; x < w; x++) dst[o + x] = upper[x]! + (lower[x]! - upper[x]!) * ay;
    }
  }
}

/**
 * Rotated warp, one bilinear pass. A frame position less than a pixel outside the frame blends
 * with `fill` by the share of its taps that fall outside, which is what grid_sample with a fill
 * gives; further out is `fill`.
 */
function warpRotated(
  src: Float32Array,
  from: number,
  dst: Float32Array,
  to: number,
  c: number,
  h: number,
  w: number,
  g: Warp,
  fill: Float64Array,
): void {
  const plane = h * w;
  const { cos, sin, sx0, sxx, sy0, syy } = g;
  const lx = g.box.left;
  const hx = lx + g.box.width - 1;
  const ly = g.box.top;
  const hy = ly + g.box.height - 1;
  for (let y = 0; y < h; y++) {
    let qx = g.qx0 - sin * y;
    let qy = g.qy0 + cos * y;
    for (let x = 0, o = to + y * w; x < w; x++, o++, qx += cos, qy += sin) {
      let cx = qx + 1;
      if (w - qx < cx) cx = w - qx;
      let cy = qy + 1;
      if (h - qy < cy) cy = h - qy;
      if (cx <= 0 || cy <= 0) {
        for (let ch = 0; ch < c; ch++) dst[o + ch * plane] = fill[ch]!;
        continue;
      }
      const cover = (cx < 1 ? cx : 1) * (cy < 1 ? cy : 1);
      const sx = sx0 + sxx * qx;
      const sy = sy0 + syy * qy;
      const fx = Math.floor(sx);
      const fy = Math.floor(sy);
      const ax = sx - fx;
      const ay = sy - fy;
      const i0 = clampInt(fx, lx, hx);
      const i1 = clampInt(fx + 1, lx, hx);
      const r0 = from + clampInt(fy, ly, hy) * w;
      const r1 = from + clampInt(fy + 1, ly, hy) * w;
      for (let ch = 0, p = 0; ch < c; ch++, p += plane) {
        const v0 = src[p + r0 + i0]! + (src[p + r0 + i1]! - src[p + r0 + i0]!) * ax;
        const v1 = src[p + r1 + i0]! + (src[p + r1 + i1]! - src[p + r1 + i0]!) * ax;
        const v = v0 + (v1 - v0) * ay;
        dst[o + p] = cover === 1 ? v : fill[ch]! + (v - fill[ch]!) * cover;
      }
    }
  }
}

/** The slots of a colour jitter: three ops of the form v ← clamp01(a·v + b + s·luminance). */
const SLOTS = 3;

/**
 * Draws one image's colour jitter into `slots` (a, b, s per op): brightness scales, contrast
 * blends with the image's mean luminance (b, filled in later), saturation with the pixel's
 * luminance. The ops run in the drawn order, then identity slots, which leave values already
 * clamped to [0, 1] as they are. Returns the contrast slot, or -1.
 */
function drawJitter(
  j: NonNullable<ImageAugment['colorJitter']>,
  c: number,
  random: () => number,
  slots: Float64Array,
): number {
  const ops: ('brightness' | 'contrast' | 'saturation')[] = [];
  if (j.brightness) ops.push('brightness');
  if (j.contrast) ops.push('contrast');
  if (j.saturation && c === 3) ops.push('saturation');
  for (let i = ops.length - 1; i > 0; i--) {
    const k = Math.floor(random() * (i + 1));
    [ops[i], ops[k]] = [ops[k]!, ops[i]!];
  }
  slots.fill(0);
  for (let k = 0; k < SLOTS; k++) slots[3 * k] = 1;
  ops.forEach((op, k) => {
    const f = uniform(random, Math.max(0, 1 - j[op]), 1 + j[op]);
    slots[3 * k] = f;
    if (op === 'saturation') slots[3 * k + 2] = 1 - f;
  });
  return ops.indexOf('contrast');
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** An image in a batch buffer: the buffer and the index of the image's first value. */
interface ImageRef {
  buf: Float32Array;
  at: number;
}

/**
 * Runs the jitter slots over the `box` of one normalised image: back to pixel values in [0, 1],
 * the slots (clamped after each, as torchvision's _blend does), normalised again into `dst`.
 * Without `dst` it writes nothing and returns the mean luminance of the result instead. Three
 * channels are R, G, B; the luminance of any other count is the mean of its channels.
 */
function runJitter(
  src: ImageRef,
  c: number,
  w: number,
  plane: number,
  box: CropBox,
  slots: Float64Array,
  norm: Normalization,
  dst?: ImageRef,
): number {
  const a0 = slots[0]!;
  const b0 = slots[1]!;
  const s0 = slots[2]!;
  const a1 = slots[3]!;
  const b1 = slots[4]!;
  const s1 = slots[5]!;
  const a2 = slots[6]!;
  const b2 = slots[7]!;
  const s2 = slots[8]!;
  const { buf: x, at: from } = src;
  const out = dst?.buf;
  const to = dst?.at ?? 0;
  let sum = 0;
  if (c === 3) {
    const [mr, mg, mb] = norm.mean as [number, number, number];
    const [dr, dg, db] = norm.std as [number, number, number];
    for (let row = box.top; row < box.top + box.height; row++) {
      for (let i = row * w + box.left, end = i + box.width; i < end; i++) {
        let r = x[from + i]! * dr + mr;
        let g = x[from + plane + i]! * dg + mg;
        let b = x[from + 2 * plane + i]! * db + mb;
        let y = s0 * (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b) + b0;
        r = clamp01(a0 * r + y);
        g = clamp01(a0 * g + y);
        b = clamp01(a0 * b + y);
        y = s1 * (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b) + b1;
        r = clamp01(a1 * r + y);
        g = clamp01(a1 * g + y);
        b = clamp01(a1 * b + y);
        y = s2 * (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b) + b2;
        r = clamp01(a2 * r + y);
        g = clamp01(a2 * g + y);
        b = clamp01(a2 * b + y);
        if (!out) {
          sum += LUMA[0] * r + LUMA[1] * g + LUMA[2] * b;
          continue;
        }
        out[to + i] = (r - mr) / dr;
        out[to + plane + i] = (g - mg) / dg;
        out[to + 2 * plane + i] = (b - mb) / db;
      }
    }
    return sum / (box.width * box.height);
  }
  // Saturation never applies here, so each value goes through on its own.
  for (let ch = 0; ch < c; ch++) {
    const m = norm.mean[ch]!;
    const d = norm.std[ch]!;
    for (let row = box.top; row < box.top + box.height; row++) {
      for (let i = ch * plane + row * w + box.left, end = i + box.width; i < end; i++) {
        const v = clamp01(a2 * clamp01(a1 * clamp01(a0 * (x[from + i]! * d + m) + b0) + b1) + b2);
        if (out) out[to + i] = (v - m) / d;
        else sum += v;
      }
    }
  }
  return sum / (c * box.width * box.height);
}

/**
 * ColorJitter of the part of an image that the geometry reads (the crop box: the part
 * torchvision's pipeline jitters, after RandomResizedCrop). Contrast blends with the mean
 * luminance of that part as it stands at its turn, so when it is drawn a first pass computes
 * that, running only the ops before it.
 */
function jitterImage(
  src: ImageRef,
  dst: ImageRef,
  c: number,
  w: number,
  plane: number,
  box: CropBox,
  slots: Float64Array,
  contrast: number,
  norm: Normalization,
  before: Float64Array,
): void {
  if (contrast >= 0) {
    before.set(slots);
    for (let k = contrast; k < SLOTS; k++) before.set([1, 0, 0], 3 * k);
    const mean = runJitter(src, c, w, plane, box, before, norm);
    slots[3 * contrast + 1] = (1 - slots[3 * contrast]!) * mean;
  }
  runJitter(src, c, w, plane, box, slots, norm, dst);
}

function checkInput(x: Float32Array, shape: readonly number[], norm: Normalization): void {
  const [n = 0, c = 0, h = 0, w = 0] = shape;
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `batch shape must be four positive integers, got [${shape.join(', ')}]`,
    );
  if (x.length !== n * c * h * w)
    throw new LoupeError(
      'SHAPE_MISMATCH',
      `a [${shape.join(', ')}] batch has ${n * c * h * w} values, got ${x.length}`,
    );
  if (norm.mean.length < c || norm.std.length < c || norm.std.slice(0, c).some((s) => !s))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `normalisation needs a mean and a non-zero std for each of the ${c} channels`,
    );
}

/**
 * Augments a normalised NCHW batch into a new array, each image with its own random draw (in a
 * fixed order, so a seeded `random` repeats it). Each image is sampled once, crop, flip,
 * rotation and shift together; colour jitter runs on the source before that, so the black that
 * geometry uncovers stays black. Three channels are taken as R, G, B for luminance. Without
 * `normalization` the values are taken as pixels in [0, 1].
 */
export function augmentBatch(
  x: Float32Array,
  shape: readonly [n: number, c: number, h: number, w: number],
  o: ImageAugment,
  random: () => number,
  normalization?: Normalization,
): Float32Array {
  const [n, c, h, w] = shape;
  const norm = normalization ?? { mean: new Array<number>(c).fill(0), std: new Array<number>(c).fill(1) };
  checkInput(x, shape, norm);
  const plane = h * w;
  const size = c * plane;
  const out = new Float32Array(x.length);
  const fill = Float64Array.from({ length: c }, (_, ch) => (0 - norm.mean[ch]!) / norm.std[ch]!);
  const geometric = o.flip || o.crop !== undefined || o.translate > 0 || o.rotation > 0;
  const buffers: AxisBuffers = {
    x0: new Int32Array(w),
    x1: new Int32Array(w),
    ax: new Float64Array(w),
    rows: [new Float64Array(w), new Float64Array(w)],
  };
  const jitter = o.colorJitter;
  const jittering = jitter && (jitter.brightness || jitter.contrast || (jitter.saturation && c === 3));
  const jittered = jittering && geometric ? new Float32Array(size) : undefined;
  const slots = new Float64Array(3 * SLOTS);
  const before = new Float64Array(3 * SLOTS);
  const whole: CropBox = { top: 0, left: 0, height: h, width: w };
  for (let i = 0, at = 0; i < n; i++, at += size) {
    const warp = geometric ? drawWarp(h, w, o, random) : undefined;
    let src: ImageRef = { buf: x, at };
    if (jittering) {
      const dst = jittered ? { buf: jittered, at: 0 } : { buf: out, at };
      const contrast = drawJitter(jitter, c, random, slots);
      jitterImage(src, dst, c, w, plane, warp?.box ?? whole, slots, contrast, norm, before);
      src = dst;
    }
    if (!warp) {
      if (src.buf !== out) out.set(src.buf.subarray(src.at, src.at + size), at);
    } else if (warp.sin === 0 && warp.cos === 1) {
      warpAxisAligned(src.buf, src.at, out, at, c, h, w, warp, fill, buffers);
    } else {
      warpRotated(src.buf, src.at, out, at, c, h, w, warp, fill);
    }
  }
  return out;
}
