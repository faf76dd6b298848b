import { audacityLabels } from '../../inference/prelabel-formats.js';
import type { Recording, Segment } from './annotation-store.js';

export const EXPORT_FORMATS = ['audacity', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The name a label file needs for `loupe ingest audio` to pair it with the recording: x.wav → x.labels.txt. */
export function labelFileName(recording: Pick<Recording, 'name'>): string {
  return `${recording.name.replace(/\.wav$/i, '')}.labels.txt`;
}

/**
 * A recording's segments as the Audacity label file Loupe ingests (`start<TAB>end<TAB>label`),
 * the same writer `loupe predict --format audacity` uses.
 */
export function segmentsAsLabels(segments: readonly Segment[]): string {
  return audacityLabels(
    segments.map((s) => ({
      path: '',
      start: s.start,
      end: s.end,
      top: [{ label: s.label, probability: 1 }],
    })),
  );
}

/** The segments with their provenance, for tools that want more than labels. */
export function segmentsAsJson(recording: Recording, segments: readonly Segment[]) {
  return {
    recording: {
      id: recording.id,
      name: recording.name,
      blob: recording.blob,
      duration: recording.duration,
      sampleRate: recording.sampleRate,
      model: recording.modelRef,
    },
    exportedAt: new Date().toISOString(),
    segments: segments.map((s) => ({
      start: s.start,
      end: s.end,
      label: s.label,
      status: s.status,
      prediction: s.prediction,
      createdBy: s.createdBy,
      editedBy: s.editedBy,
      editedAt: s.editedAt,
    })),
  };
}
