import { useId, useRef, useState, type DragEvent } from 'react';
import { ApiError } from '../../api';
import { uploadImages, type UploadResult } from './organiser-api';

/** Files per request: each request is one progress bar, and one bad file never holds up many. */
const FILES_PER_REQUEST = 8;
/** Bytes per request, well under the server's default body limit (20 MiB). */
const BYTES_PER_REQUEST = 12 * 1024 * 1024;

interface Batch {
  id: number;
  names: string[];
  progress: number;
  state: 'uploading' | 'classifying' | 'done' | 'failed';
  results: UploadResult[];
  error: string | null;
}

/** Splits the picked files into requests by count and size, keeping their order. */
function batchesOf(files: File[]): File[][] {
  const out: File[][] = [];
  let current: File[] = [];
  let bytes = 0;
  for (const f of files) {
    if (current.length && (current.length >= FILES_PER_REQUEST || bytes + f.size > BYTES_PER_REQUEST)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(f);
    bytes += f.size;
  }
  if (current.length) out.push(current);
  return out;
}

function BatchRow({ batch }: { batch: Batch }) {
  const ok = batch.results.filter((r) => 'image' in r);
  const failed = batch.results.filter((r): r is Extract<UploadResult, { error: unknown }> => 'error' in r);
  const label = `Upload of ${batch.names.length} file${batch.names.length === 1 ? '' : 's'}`;
  return (
    <li className={`upload-batch ${batch.state}`}>
      <div className="upload-line">
        <progress aria-label={label} max={1} value={batch.progress} />
        <span>
          {batch.state === 'uploading' &&
            `Uploading ${batch.names.length} — ${Math.round(batch.progress * 100)}%`}
          {batch.state === 'classifying' && `Classifying ${batch.names.length}…`}
          {batch.state === 'done' &&
            `${ok.length} of ${batch.names.length} organised${ok.some((r) => 'duplicate' in r && r.duplicate) ? ' (some were there already)' : ''}`}
          {batch.state === 'failed' && `Upload failed: ${batch.error}`}
        </span>
      </div>
      {failed.length > 0 && (
        <ul className="upload-errors">
          {failed.map((r, i) => (
            <li key={i} className="alert error">
              <strong>{r.name}</strong>: {r.error.detail}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

/**
 * Dropping or picking many images: each group of files goes up in its own request with its own
 * progress bar; the server classifies them and says, file by file, what it kept and what it
 * refused and why.
 */
export function UploadPanel({ onUploaded }: { onUploaded: () => void }) {
  const inputId = useId();
  const [batches, setBatches] = useState<Batch[]>([]);
  const [over, setOver] = useState(false);
  const nextId = useRef(1);

  const update = (id: number, change: Partial<Batch>) =>
    setBatches((all) => all.map((b) => (b.id === id ? { ...b, ...change } : b)));

  const send = async (files: File[]) => {
    const groups = batchesOf(files).map((group) => ({ group, id: nextId.current++ }));
    setBatches((all) => [
      ...groups.map(({ group, id }) => ({
        id,
        names: group.map((f) => f.name),
        progress: 0,
        state: 'uploading' as const,
        results: [],
        error: null,
      })),
      ...all,
    ]);
    // One request at a time: the server classifies a request's files as one batch, and a phone's
    // uplink is better used by one transfer than split between many.
    for (const { group, id } of groups) {
      try {
        const { results } = await uploadImages(group, (fraction) =>
          update(id, fraction >= 1 ? { progress: 1, state: 'classifying' } : { progress: fraction }),
        );
        update(id, { state: 'done', progress: 1, results });
      } catch (e) {
        update(id, { state: 'failed', error: e instanceof ApiError ? e.detail : String(e) });
      }
      onUploaded();
    }
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const files = [...e.dataTransfer.files];
    if (files.length) void send(files);
  };

  return (
    <section className="upload-panel" aria-labelledby={`${inputId}-heading`}>
      <h2 id={`${inputId}-heading`} className="visually-hidden">
        Add images
      </h2>
      <div
        className={`drop-zone${over ? ' over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>Drop images here, or</p>
        <label htmlFor={inputId} className="file-button">
          Choose images…
        </label>
        <input
          id={inputId}
          className="visually-hidden"
          type="file"
          accept="image/*"
          multiple
          onChange={(e) => {
            const files = [...(e.target.files ?? [])];
            e.target.value = '';
            if (files.length) void send(files);
          }}
        />
        <p className="hint">Each image is classified by the model and filed under its class.</p>
      </div>
      {batches.length > 0 && (
        <ul className="upload-batches" aria-live="polite">
          {batches.map((b) => (
            <BatchRow key={b.id} batch={b} />
          ))}
        </ul>
      )}
    </section>
  );
}
