import type { ImagePreprocessing } from '../../features/image/image-preprocessing.js';
import type { ModelSpecInput } from '../spec/schema.js';
import type { TensorMap } from '../tensor.js';

/** A named feature output of a backbone and how to read it. */
export interface BackboneTap {
  /** Size of the feature vector once read as below. */
  features: number;
  /** Whether forward must average the tap's map over height×width ({ tap, pool: true }). */
  pool: boolean;
  /** What the features are, in a sentence users can read. */
  description: string;
}

export interface BackboneInfo {
  /** Where the weights come from: package, version, files. */
  origin: string;
  licence: string;
  /** What a user should know before relying on these features. */
  caveat: string;
}

/** A pretrained network converted to Loupe's format, ready for Model.create + setWeights. */
export interface Backbone {
  name: string;
  spec: ModelSpecInput;
  weights: TensorMap;
  preprocessing: ImagePreprocessing;
  taps: Record<string, BackboneTap>;
  info: BackboneInfo;
  /** The cache entry used; hit is false when this call converted (or reconverted) the source. */
  cache: { dir: string; hit: boolean; rebuilt?: string };
}

/** What the registry knows about one backbone: where its source is and how to convert it. */
export interface BackboneDefinition {
  name: string;
  /** Bump whenever the conversion's output changes, so older cache entries are not reused. */
  converterVersion: number;
  /** Absolute paths of the source files (hashed into the cache key); throws when unavailable. */
  sources(): string[];
  convert(sources: string[]): Promise<{ spec: ModelSpecInput; weights: TensorMap }>;
  preprocessing: ImagePreprocessing;
  taps: Record<string, BackboneTap>;
  info: BackboneInfo;
}
