import { ApiError } from '../api';

/** A failure explained in words, announced to screen readers; nothing when there is none. */
export function ErrorAlert({ error }: { error: unknown }) {
  if (!error) return null;
  const message =
    error instanceof ApiError ? error.detail : error instanceof Error ? error.message : String(error);
  return (
    <p className="alert error" role="alert">
      {message.charAt(0).toUpperCase() + message.slice(1)}
    </p>
  );
}
