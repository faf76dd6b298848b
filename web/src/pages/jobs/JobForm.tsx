import { useId, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import type { Job, JobKind, JobKindInfo } from './job-types';

const HINTS: Record<JobKind, string> = {
  ingest: 'Add labelled images or recordings from a folder or CSV on the server to a dataset.',
  train: 'Train a classifier on a dataset version; the run is tracked under Runs.',
  tune: 'Search training settings (loupe.yaml tune section) over several trials.',
  retrain: 'Retrain a model with the feedback gathered for it.',
};

/** A labelled input whose value is kept as text; empty means "the default". */
function Input({
  label,
  value,
  onChange,
  hint,
  ...rest
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  hint?: string;
  type?: string;
  required?: boolean;
  min?: number;
  step?: string;
  placeholder?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-describedby={hint ? `${id}-h` : undefined}
        {...rest}
      />
      {hint && (
        <small id={`${id}-h`} className="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

function Choice({
  label,
  value,
  onChange,
  options,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: [string, string][];
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}

function Check({
  label,
  checked,
  onChange,
}: {
  label: string;
  checked: boolean;
  onChange: (v: boolean) => void;
}) {
  const id = useId();
  return (
    <p className="field checkbox">
      <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
    </p>
  );
}

const MODES: [string, string][] = [
  ['', 'as in loupe.yaml'],
  ['probe', 'probe'],
  ['finetune', 'finetune'],
  ['scratch', 'scratch'],
  ['audio', 'audio'],
];

/** Form fields that are numbers in the job's arguments. */
const NUMERIC = new Set([
  'epochs',
  'batchSize',
  'lr',
  'seed',
  'trials',
  'seconds',
  'parallel',
  'minPerClass',
  'top',
  'minFeedback',
]);

/** The fields each kind sends; the CSV options only with a CSV source. */
function fieldsOf(kind: JobKind, csv: boolean): string[] {
  if (kind === 'ingest')
    return ['source', 'path', 'dataset', 'replace', ...(csv ? ['quality', 'minPerClass', 'top'] : [])];
  if (kind === 'train') return ['mode', 'data', 'epochs', 'batchSize', 'lr', 'seed', 'cv'];
  if (kind === 'tune') return ['trials', 'seconds', 'parallel', 'sampler', 'mode', 'data'];
  return ['model', 'minFeedback', 'ifDrift', 'tune', 'dryRun'];
}

/** The kind's fields that were filled in, numbers as numbers, so the server applies its defaults to the rest. */
function argsOf(form: Record<string, string | boolean>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = form[k];
    if (v === undefined || v === '' || v === false) continue;
    out[k] = typeof v === 'string' && NUMERIC.has(k) ? Number(v) : v;
  }
  return out;
}

/** Starts a job of one of the kinds the signed-in role may start. */
export function JobForm({ kinds }: { kinds: JobKindInfo[] }) {
  const navigate = useNavigate();
  const [kind, setKind] = useState<JobKind>(kinds[0]!.kind);
  const [f, setF] = useState<Record<string, string | boolean>>({ source: 'folder' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const kindId = useId();
  const set = (k: string) => (v: string | boolean) => setF((x) => ({ ...x, [k]: v }));
  const text = (k: string) => (f[k] as string | undefined) ?? '';
  const count = (k: string, label: string, min = 1) => (
    <Input label={label} type="number" min={min} value={text(k)} onChange={set(k)} />
  );

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const settings = text('set')
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    const args = {
      ...argsOf(f, fieldsOf(kind, f.source === 'csv')),
      ...(kind === 'train' && settings.length ? { set: settings } : {}),
    };
    try {
      const { job } = await api<{ job: Job }>('/api/jobs', { json: { kind, args } });
      navigate(`/jobs/${job.id}`);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <form className="card job-form" onSubmit={(e) => void submit(e)} aria-labelledby="start-job-title">
      <h2 id="start-job-title">Start a job</h2>
      <div className="field">
        <label htmlFor={kindId}>Kind</label>
        <select
          id={kindId}
          value={kind}
          onChange={(e) => setKind(e.target.value as JobKind)}
          aria-describedby={`${kindId}-h`}
        >
          {kinds.map((k) => (
            <option key={k.kind} value={k.kind}>
              {k.kind}
            </option>
          ))}
        </select>
        <small id={`${kindId}-h`} className="hint">
          {HINTS[kind]}
        </small>
      </div>
      {kind === 'ingest' && (
        <>
          <Choice
            label="Source"
            value={text('source')}
            onChange={set('source')}
            options={[
              ['folder', 'class folders'],
              ['csv', 'CSV of image URLs'],
              ['audio', 'recordings with label files'],
            ]}
          />
          <Input
            label="Path on the server"
            required
            value={text('path')}
            onChange={set('path')}
            hint="Absolute, or relative to the workspace folder."
          />
          <Input
            label="Dataset"
            value={text('dataset')}
            onChange={set('dataset')}
            hint="Default: the workspace's name."
          />
          <Check
            label="Start the version from nothing instead of adding to the latest"
            checked={f.replace === true}
            onChange={set('replace')}
          />
          {f.source === 'csv' && (
            <>
              <Input
                label="Quality grades"
                value={text('quality')}
                onChange={set('quality')}
                placeholder="research"
              />
              {count('minPerClass', 'Minimum rows per class')}
              {count('top', 'Keep the most frequent classes')}
            </>
          )}
        </>
      )}
      {(kind === 'train' || kind === 'tune') && (
        <>
          <Choice label="Mode" value={text('mode')} onChange={set('mode')} options={MODES} />
          <Input
            label="Dataset"
            value={text('data')}
            onChange={set('data')}
            hint="A dataset name or version id; default the only one."
          />
        </>
      )}
      {kind === 'train' && (
        <>
          {count('epochs', 'Epochs')}
          {count('batchSize', 'Batch size')}
          <Input label="Learning rate" type="number" step="any" value={text('lr')} onChange={set('lr')} />
          {count('seed', 'Seed', 0)}
          <Input label="Cross-validation" value={text('cv')} onChange={set('cv')} placeholder="kfold:5" />
          <div className="field">
            <label htmlFor={`${kindId}-set`}>Other settings</label>
            <textarea
              id={`${kindId}-set`}
              rows={3}
              value={text('set')}
              onChange={(e) => set('set')(e.target.value)}
              aria-describedby={`${kindId}-set-h`}
            />
            <small id={`${kindId}-set-h`} className="hint">
              One key=value per line, as <code>--set</code>: augment.image.flip=true
            </small>
          </div>
        </>
      )}
      {kind === 'tune' && (
        <>
          {count('trials', 'Trials')}
          {count('seconds', 'Time budget (seconds)')}
          {count('parallel', 'Trials at once')}
          <Choice
            label="Sampler"
            value={text('sampler')}
            onChange={set('sampler')}
            options={[
              ['', 'as in loupe.yaml'],
              ['tpe', 'TPE'],
              ['random', 'random'],
            ]}
          />
        </>
      )}
      {kind === 'retrain' && (
        <>
          <Input label="Model" required value={text('model')} onChange={set('model')} />
          {count('minFeedback', 'Only with at least this many pending decisions')}
          <Check
            label="Only when the latest drift check found drift"
            checked={f.ifDrift === true}
            onChange={set('ifDrift')}
          />
          <Check
            label="Search settings (tune) instead of reusing the champion's"
            checked={f.tune === true}
            onChange={set('tune')}
          />
          <Check
            label="Dry run: say what would happen, change nothing"
            checked={f.dryRun === true}
            onChange={set('dryRun')}
          />
        </>
      )}
      <ErrorAlert error={error} />
      <button type="submit" disabled={busy}>
        {busy ? 'Starting…' : `Start ${kind}`}
      </button>
    </form>
  );
}
