import path from 'node:path';
import type { BlobStore } from '../../store/blob-store.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import { scanAudioFolder, type AudioScanOptions } from '../sources/audio/audio-folder.js';
import {
  collectCandidates,
  type CandidateStream,
  type IngestProgress,
  type SourceResult,
} from './candidate.js';

/**
 * WAV recordings with Audacity label files: each recording is stored once, each labelled
 * segment becomes an item pointing into it. A recording is the group of its segments, so a
 * recording never straddles train and test (and leave-one-file-out CV falls out of groups).
 */
export function audioCandidates(
  root: string,
  blobs: BlobStore,
  options: AudioScanOptions = {},
  onProgress?: IngestProgress,
): CandidateStream {
  return async (sink) => {
    const scan = await scanAudioFolder(root, options);
    const blobOf = new Map<string, string>();
    let done = 0;
    const labelled = scan.recordings.filter((r) => r.labelFile);
    await mapConcurrent(labelled, 4, async (r) => {
      blobOf.set(r.file, (await blobs.putFile(r.file)).hash);
      onProgress?.('copy', ++done, labelled.length);
    });
    for (const s of scan.segments) {
      const rel = path.relative(root, s.recording);
      await sink({
        kind: 'audio',
        blob: blobOf.get(s.recording)!,
        label: s.label,
        source: `${rel}#t=${s.start},${s.end}`,
        group: rel,
        start: s.start,
        end: s.end,
        meta: {
          sampleRate: s.sampleRate,
          labelStart: s.labelStart,
          labelEnd: s.labelEnd,
          ...(s.padBefore || s.padAfter ? { padBefore: s.padBefore, padAfter: s.padAfter } : {}),
        },
      });
    }
    const rejected = scan.report.problems
      .filter((p) => p.severity === 'skipped')
      .map((p) => ({
        source: `${path.relative(root, p.file)}${p.line ? `:${p.line}` : ''}`,
        reason: p.code,
        detail: p.reason,
      }));
    return { rejected, details: { audio: scan.report } };
  };
}

export function candidatesFromAudio(
  root: string,
  blobs: BlobStore,
  options: AudioScanOptions = {},
  onProgress?: IngestProgress,
): Promise<SourceResult> {
  return collectCandidates(audioCandidates(root, blobs, options, onProgress));
}
