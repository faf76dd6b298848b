import { useEffect, useId, useState, type FormEvent } from 'react';
import { api, upload } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import type { AudioModel, AudioModels, Detail, RecordingLimits } from './annotator-api';

/** The server's limits (web.annotator in loupe.yaml) as the hint under the file field says them. */
function limitsText({ maxBytes, maxSeconds }: RecordingLimits): string {
  const minutes = maxSeconds / 60;
  const time = Number.isInteger(minutes)
    ? `${minutes} minute${minutes === 1 ? '' : 's'}`
    : `${maxSeconds} seconds`;
  const size = (maxBytes / (1024 * 1024)).toLocaleString('en', { maximumFractionDigits: 2 });
  return `Up to ${time} and ${size} MiB.`;
}

/**
 * Picks a WAV file and uploads it with progress; the server then pre-labels it, which takes a
 * moment more, said so while it happens. Offers the audio models when there is a choice.
 */
export function RecordingUpload({ onUploaded }: { onUploaded: (d: Detail & { created: boolean }) => void }) {
  const fileId = useId();
  const modelId = useId();
  const statusId = useId();
  const [models, setModels] = useState<AudioModel[] | null>(null);
  const [limits, setLimits] = useState<RecordingLimits | null>(null);
  const [model, setModel] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [fraction, setFraction] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api<AudioModels>('/api/recordings/models').then((r) => {
      setModels(r.models);
      setLimits(r.limits);
      setModel(r.models[0]?.model ?? '');
    }, setError);
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setFraction(0);
    const form = new FormData();
    form.append('file', file, file.name);
    try {
      const query = model ? `?model=${encodeURIComponent(model)}` : '';
      onUploaded(await upload<Detail & { created: boolean }>(`/api/recordings${query}`, form, setFraction));
    } catch (err) {
      setError(err);
    } finally {
      setFraction(null);
    }
  };

  const busy = fraction !== null;
  const status =
    fraction === null
      ? ''
      : fraction < 1
        ? `Uploading… ${Math.round(fraction * 100)}%`
        : `Pre-labelling with ${model || 'the audio model'}…`;

  if (models && !models.length)
    return (
      <p className="alert info">
        No audio model is registered yet. Train one on labelled recordings (<code>loupe train</code> with{' '}
        <code>mode: audio</code>) and register it; then recordings can be uploaded here.
      </p>
    );
  return (
    <form className="card upload-form" onSubmit={(e) => void submit(e)} aria-describedby={statusId}>
      <h2>Upload a recording</h2>
      <div className="field">
        <label htmlFor={fileId}>Recording (WAV)</label>
        <input
          id={fileId}
          type="file"
          accept=".wav,audio/wav,audio/x-wav,audio/wave"
          disabled={busy}
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
        />
        <small className="hint">{limits && limitsText(limits)} Any sample rate, mono or stereo.</small>
      </div>
      {models && models.length > 1 && (
        <div className="field">
          <label htmlFor={modelId}>Model that pre-labels it</label>
          <select id={modelId} value={model} disabled={busy} onChange={(e) => setModel(e.target.value)}>
            {models.map((m) => (
              <option key={m.ref} value={m.model}>
                {m.ref} ({m.classes.join(', ')})
              </option>
            ))}
          </select>
        </div>
      )}
      {models?.length === 1 && (
        <p className="hint">
          Pre-labelled by <strong>{models[0]!.ref}</strong> ({models[0]!.classes.join(', ')}).
        </p>
      )}
      <button type="submit" disabled={!file || busy}>
        Upload and pre-label
      </button>
      <div id={statusId} className="upload-status" aria-live="polite">
        {busy && (
          <>
            <progress value={fraction < 1 ? fraction : undefined} max={1} aria-label="Upload progress" />
            <span>{status}</span>
          </>
        )}
      </div>
      <ErrorAlert error={error} />
    </form>
  );
}
