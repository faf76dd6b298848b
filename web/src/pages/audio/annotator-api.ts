import { api } from '../../api';

/**
 * The audio annotator's API calls. The shapes it answers are the server's own types
 * (src/web/annotator/annotation-store.ts), imported for type-checking only.
 */

import type { Recording, Segment } from '../../../../src/web/annotator/annotation-store.js';
import type { RecordingLimits } from '../../../../src/web/annotator/annotator-config.js';

export type { Recording, Segment, RecordingLimits };

export interface Detail {
  recording: Recording;
  segments: Segment[];
}

export interface AudioModel {
  ref: string;
  model: string;
  version: number;
  classes: string[];
  aliases: string[];
}

/** GET /api/recordings/models: what uploads can be pre-labelled with, and how large they may be. */
export interface AudioModels {
  models: AudioModel[];
  limits: RecordingLimits;
}

const base = (id: number) => `/api/recordings/${id}`;

export const recordingUrls = (id: number) => ({
  audio: `${base(id)}/audio`,
  spectrogram: `${base(id)}/spectrogram.png`,
  labels: `${base(id)}/export`,
  json: `${base(id)}/export?format=json`,
});

export const getRecording = (id: number) => api<Detail>(base(id));

export const changeSegment = (s: Segment, change: { label?: string; start?: number; end?: number }) =>
  api<Detail>(`${base(s.recordingId)}/segments/${s.id}`, {
    method: 'PATCH',
    json: { ...change, revision: s.revision },
  });

export const acceptSegment = (s: Segment) =>
  api<Detail>(`${base(s.recordingId)}/segments/${s.id}/accept`, { json: { revision: s.revision } });

export const splitSegment = (s: Segment, at: number) =>
  api<Detail>(`${base(s.recordingId)}/segments/${s.id}/split`, { json: { at, revision: s.revision } });

export const deleteSegment = (s: Segment) =>
  api<Detail>(`${base(s.recordingId)}/segments/${s.id}?revision=${s.revision}`, { method: 'DELETE' });

export const addSegment = (recordingId: number, s: { start: number; end: number; label: string }) =>
  api<Detail & { segmentId: number }>(`${base(recordingId)}/segments`, { json: s });

export const acceptAll = (recordingId: number) =>
  api<Detail & { accepted: number }>(`${base(recordingId)}/accept-all`, { json: {} });

/** Seconds as people read them: "2.35 s", or "1:02.35" past a minute. */
export function formatTime(t: number): string {
  if (t < 60) return `${t.toFixed(2)} s`;
  const m = Math.floor(t / 60);
  return `${m}:${(t - m * 60).toFixed(2).padStart(5, '0')}`;
}

export const formatWhen = (iso: string) => new Date(iso).toLocaleString();

/** Colour-blind-safe categorical colours (Okabe & Ito), one per class in the model's order. */
const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442', '#000000'];

export function classColour(classes: readonly string[], label: string): string {
  const i = classes.indexOf(label);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length]!;
}
