import type { ModelInputs } from '../../inference/model-inputs.js';
import type { DecodeLimits } from '../decode-upload.js';

/** Messages between a served model's main-thread handle and its inference worker. */
export type ToWorker =
  | { type: 'load'; onnx: Uint8Array; threads?: number }
  | { type: 'run'; id: number; inputs: Uint8Array[]; limits: DecodeLimits };

export interface LoadedInfo {
  classes: string[];
  inputs: ModelInputs;
  temperature: number;
  hasEmbedding: boolean;
}

export interface ItemError {
  code: string;
  message: string;
}

export type ItemResult = { probs: Float32Array; embedding?: Float32Array } | { error: ItemError };

export type FromWorker =
  | { type: 'loaded'; info: LoadedInfo }
  | { type: 'load-failed'; error: ItemError }
  | { type: 'result'; id: number; results: ItemResult[]; decodeMs: number; inferMs: number }
  | { type: 'failed'; id: number; error: ItemError };
