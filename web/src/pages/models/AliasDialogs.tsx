import { useCallback, useId, useState, type FormEvent, type ReactNode } from 'react';
import { api } from '../../api';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert } from '../../components/ErrorAlert';

interface ReasonDialogProps {
  /** The button that opens the dialog. */
  opener: { label: string; secondary?: boolean };
  title: string;
  submit: { label: string; busy: string };
  /** Makes the change; its message is announced once the dialog closes. */
  act: (reason: string) => Promise<string>;
  onDone: (message: string) => void;
  /** Fields before the reason. */
  children?: ReactNode;
}

/**
 * A button opening a dialog that moves an alias: the change's own fields, the reason the audit
 * log keeps (required), the server's refusal shown in place, and the dialog closed once it is done.
 */
function ReasonDialog({ opener, title, submit, act, onDone, children }: ReasonDialogProps) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const reasonId = useId();
  const close = useCallback(() => {
    setOpen(false);
    setError(null);
  }, []);

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const message = await act(reason);
      setOpen(false);
      setReason('');
      onDone(message);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <button
        type="button"
        className={opener.secondary ? 'secondary' : undefined}
        onClick={() => setOpen(true)}
      >
        {opener.label}
      </button>
      <Dialog open={open} title={title} onClose={close}>
        <form onSubmit={(e) => void onSubmit(e)}>
          {children}
          <div className="field">
            <label htmlFor={reasonId}>Reason</label>
            <textarea
              id={reasonId}
              required
              rows={3}
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              aria-describedby={`${reasonId}-hint`}
            />
            <small id={`${reasonId}-hint`} className="hint">
              Goes in the audit log with your name.
            </small>
          </div>
          <ErrorAlert error={error} />
          <div className="dialog-actions">
            <button type="submit" disabled={busy}>
              {busy ? submit.busy : submit.label}
            </button>
            <button type="button" className="secondary" onClick={close}>
              Cancel
            </button>
          </div>
        </form>
      </Dialog>
    </>
  );
}

/** Promote a version to an alias (champion by default), through its gate; admins only. */
export function PromoteButton({
  refName,
  path,
  gateFailed,
  onDone,
}: {
  refName: string;
  /** /api/models/<model>/versions/<version> */
  path: string;
  gateFailed: boolean;
  onDone: (message: string) => void;
}) {
  const [alias, setAlias] = useState('champion');
  const [force, setForce] = useState(false);
  const aliasId = useId();
  const forceId = useId();
  const act = async (reason: string) => {
    const r = await api<{ alias: string; from: number | null; forced: boolean }>(`${path}/promote`, {
      json: { alias, reason, force },
    });
    return `${refName} is now ${r.alias}${r.from !== null ? ` (was v${r.from})` : ''}${r.forced ? ', forced past its gate' : ''}.`;
  };
  return (
    <ReasonDialog
      opener={{ label: 'Promote…' }}
      title={`Promote ${refName}`}
      submit={{ label: 'Promote', busy: 'Promoting…' }}
      act={act}
      onDone={onDone}
    >
      <div className="field">
        <label htmlFor={aliasId}>Alias</label>
        <input id={aliasId} required value={alias} onChange={(e) => setAlias(e.target.value)} />
      </div>
      {gateFailed && (
        <p className="field checkbox">
          <input id={forceId} type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
          <label htmlFor={forceId}>Promote although the gate fails (audited as forced)</label>
        </p>
      )}
    </ReasonDialog>
  );
}

/** Move an alias back to the version it held before its latest promotion; admins only. */
export function RollbackButton({
  model,
  alias = 'champion',
  onDone,
}: {
  model: string;
  alias?: string;
  onDone: (message: string) => void;
}) {
  const act = async (reason: string) => {
    const r = await api<{ from: string; to: string }>(`/api/models/${encodeURIComponent(model)}/rollback`, {
      json: { alias, reason },
    });
    return `${model}:${alias} is back at ${r.to} (was ${r.from}).`;
  };
  return (
    <ReasonDialog
      opener={{ label: `Roll back ${alias}…`, secondary: true }}
      title={`Roll back ${model}:${alias}`}
      submit={{ label: 'Roll back', busy: 'Rolling back…' }}
      act={act}
      onDone={onDone}
    >
      <p>The alias goes back to the version it held before its latest promotion.</p>
    </ReasonDialog>
  );
}
