import path from 'node:path';
import type { FeaturePooling } from '../onnx/compose-classifier.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { ImagePreprocessing } from '../../features/image/image-preprocessing.js';
import { defaultCacheDir } from '../backbones/backbone-cache.js';
import { listBackbones } from '../backbones/registry.js';
import { openBackboneExtractor } from './backbone-extractor.js';
import { findPreprocessorConfig, PREPROCESSOR_CONFIG } from './encoder-preprocessing.js';
import { HF_REF_FORM, parseEncoderRef } from './encoder-ref.js';
import { downloadHubFiles, type HubDownloadProgress } from './hub-download.js';
import { openOnnxExtractor } from './onnx-extractor.js';

/** A frozen image encoder: images in (preprocessed as it says), one feature vector per image out. */
export interface FeatureExtractor {
  /** Stable identity for caches: source kind + name + weights hash + tap (+ converter version). Changes whenever the features would. */
  readonly id: string;
  /** For run records: what computes the features and where it came from. */
  readonly description: string;
  /** Feature vector length. */
  readonly dim: number;
  /** What preprocessImages must produce for it (size, mean/std, layout). */
  readonly preprocessing: ImagePreprocessing;
  /** n × dim features for n images laid out NCHW as preprocessed. */
  embed(x: Float32Array, n: number): Promise<Float32Array>;
  /** The ONNX graph that computes the features, and how its output becomes the vector (for fused exports). */
  graph(): Promise<EncoderGraph>;
  dispose(): Promise<void>;
}

export interface EncoderGraph {
  bytes: Uint8Array;
  output: string;
  pooling: FeaturePooling;
}

export interface OpenFeatureExtractorOptions {
  /** A built-in backbone's tap (final, mid), or an ONNX output name. */
  tap?: string;
  /** Root of Loupe's cache; defaults to LOUPE_CACHE_DIR, else $XDG_CACHE_HOME/loupe or ~/.cache/loupe. */
  cacheDir?: string;
  /** Progress of hub downloads. */
  onDownload?: (p: HubDownloadProgress) => void;
  signal?: AbortSignal;
  /** Hub to download from; defaults to HF_ENDPOINT, else https://huggingface.co. */
  hubEndpoint?: string;
}

/**
 * Opens a frozen encoder from one of three sources:
 * - a built-in backbone by name (`mobilenet_v2`), exported to ONNX up to a tap and run on ONNX Runtime;
 * - a local `.onnx` image encoder, with the preprocessor_config.json beside it when there is one;
 * - `hf:owner/name[@revision][:path/in/repo.onnx]`, an encoder on the Hugging Face hub
 *   (default file onnx/model.onnx), downloaded once into `<cacheDir>/hub/`.
 */
export async function openFeatureExtractor(
  ref: string,
  o: OpenFeatureExtractorOptions = {},
): Promise<FeatureExtractor> {
  o.signal?.throwIfAborted();
  const source = parseEncoderRef(ref);
  const cacheDir = o.cacheDir ?? defaultCacheDir();
  switch (source.kind) {
    case 'builtin':
      if (!listBackbones().includes(source.name))
        throw new LoupeError(
          'NOT_FOUND',
          `no backbone "${source.name}": name a built-in one (${listBackbones().join(', ')}), ` +
            `a path to an .onnx image encoder, or ${HF_REF_FORM}`,
        );
      return openBackboneExtractor(source.name, { tap: o.tap, cacheDir });
    case 'onnx':
      return openOnnxExtractor({
        kind: 'onnx',
        name: path.basename(source.file),
        label: source.file,
        modelFile: source.file,
        preprocessorConfig: await findPreprocessorConfig(source.file),
        tap: o.tap,
      });
    case 'hf': {
      const snapshot = await downloadHubFiles(
        source.repo,
        source.revision,
        [{ path: source.file }, { path: PREPROCESSOR_CONFIG, optional: true }],
        { cacheDir, endpoint: o.hubEndpoint, onDownload: o.onDownload, signal: o.signal },
      );
      return openOnnxExtractor({
        kind: 'hf',
        name: `${source.repo}:${source.file}`,
        label: `hf:${source.repo}@${snapshot.sha}:${source.file}`,
        modelFile: snapshot.files.get(source.file)!,
        preprocessorConfig: snapshot.files.get(PREPROCESSOR_CONFIG),
        tap: o.tap,
      });
    }
  }
}
