import { LoupeError } from '../../errors/loupe-error.js';
import { prelabels } from '../../inference/prelabels.js';
import { readModelFile } from '../../registry/model-files.js';
import type { ModelVersion } from '../../registry/registry-store.js';
import { sha256 } from '../../store/blob-store.js';
import type { Workspace } from '../../workspace/workspace.js';
import { getRecording, insertRecording, recordingByBlob, type Recording } from './annotation-store.js';
import { prelabelInWorker } from './prelabel-in-worker.js';
import type { UploadedRecording } from './recording-upload.js';

export interface UploadOptions {
  /** The audio model version that pre-labels it (see chooseAudioModel). */
  version: ModelVersion;
  /** Seconds between window starts. */
  hop?: number;
  /** Who uploads (their email). */
  actor: string;
  signal?: AbortSignal;
}

/** Classes kept per segment for the page to offer as alternatives. */
const TOP = 3;

const isUniqueViolation = (e: unknown) => /UNIQUE constraint failed: recordings\.blob/.test(String(e));

/**
 * Stores an uploaded recording, pre-labels it with an audio model version and stores its segments and
 * spectrogram. The same bytes uploaded again (by anyone) open the recording already there rather
 * than a second copy whose decisions would compete with the first's.
 */
export async function uploadRecording(
  ws: Workspace,
  upload: UploadedRecording,
  o: UploadOptions,
): Promise<{ recording: Recording; created: boolean }> {
  const hash = sha256(upload.bytes);
  const existing = await recordingByBlob(ws.db, hash);
  if (existing) return { recording: existing, created: false };
  const { version } = o;
  const onnx = await readModelFile(ws.blobs, version);
  const existed = await ws.blobs.has(hash);
  await ws.blobs.put(upload.bytes);
  const dropBlob = async () => {
    // Only a blob this upload brought in: the same bytes may be an item of a dataset.
    if (!existed) await ws.blobs.remove(hash);
  };
  let result;
  try {
    result = await prelabelInWorker(
      { onnx, file: ws.blobs.pathOf(hash), ...(o.hop !== undefined ? { hop: o.hop } : {}) },
      o.signal,
    );
  } catch (e) {
    await dropBlob();
    throw e;
  }
  const predictions = result.segments.map((s) => ({
    path: upload.name,
    start: s.start,
    end: s.end,
    probs: Float32Array.from(s.probs),
  }));
  const { items } = prelabels(version.ref, result.classes, predictions, [], { topK: TOP });
  const now = new Date().toISOString();
  let id: number;
  try {
    id = await insertRecording(
      ws.db,
      {
        name: upload.name,
        blob: hash,
        bytes: upload.bytes.length,
        duration: upload.info.duration,
        sample_rate: upload.info.sampleRate,
        channels: upload.info.channels,
        model: version.model,
        version: version.version,
        classes: JSON.stringify(result.classes),
        window: result.window,
        hop: result.hop,
        spectrogram_blob: await ws.blobs.put(result.spectrogram.png),
        uploaded_by: o.actor,
        uploaded_at: now,
      },
      items.map((item) => ({
        start: item.start!,
        end: item.end!,
        label: item.top[0]!.label,
        status: 'pending' as const,
        predicted_label: item.top[0]!.label,
        predicted_probability: item.top[0]!.probability,
        predicted_top: JSON.stringify(item.top),
        predicted_start: item.start!,
        predicted_end: item.end!,
        model: version.model,
        version: version.version,
        created_by: version.ref,
        created_at: now,
        edited_by: null,
        edited_at: null,
      })),
    );
  } catch (e) {
    // Someone uploaded the same bytes meanwhile: theirs is the recording.
    if (!isUniqueViolation(e)) throw e;
    const theirs = await recordingByBlob(ws.db, hash);
    if (!theirs)
      throw new LoupeError('CONFLICT', 'the same recording is being uploaded by someone else; retry');
    return { recording: theirs, created: false };
  }
  return { recording: await getRecording(ws.db, id), created: true };
}
