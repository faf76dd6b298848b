import { useEffect, useRef } from 'react';
import type { OrganisedImageView } from './organiser-api';

/** Asks before deleting, in a modal dialog (the browser's own: focus is trapped, Escape cancels). */
export function ConfirmDelete({
  images,
  onConfirm,
  onCancel,
}: {
  images: OrganisedImageView[];
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  const what = images.length === 1 ? images[0]!.name : `${images.length} images`;
  return (
    <dialog ref={dialog} className="confirm" aria-labelledby="confirm-delete-title" onCancel={onCancel}>
      <h2 id="confirm-delete-title">Delete {what}?</h2>
      <p>The file and its record go. Labels already given stay in the feedback history.</p>
      <div className="confirm-actions">
        <button type="button" className="danger" onClick={onConfirm}>
          Delete
        </button>
        <button type="button" className="secondary" autoFocus onClick={onCancel}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
