/**
 * A yes-or-no question on a Modal (a native <dialog>): Cancel, the safe answer, has the focus;
 * Escape, the close button and a click outside all cancel; the focus goes back to whatever
 * opened it. While the answer's request runs the confirm button says so; a failure is shown
 * in words and the question stays open.
 */
import { useId, useState, type ReactNode } from 'react';
import { describeError } from '../api/http.js';
import { ErrorNotice, Modal } from './bits.js';

export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  busyLabel,
  danger,
  onConfirm,
  onCancel,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  busyLabel: string;
  danger?: boolean;
  /** Runs the action; the caller closes the dialog (or unmounts it) when it succeeds. */
  onConfirm: () => Promise<void>;
  onCancel: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const bodyId = useId();

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <Modal title={title} onClose={onCancel} describedBy={bodyId}>
      <div id={bodyId} className="confirm-body">
        {children}
      </div>
      <ErrorNotice message={error} />
      <div className="modal-actions">
        <button type="button" className="button" onClick={onCancel} data-autofocus>
          Cancel
        </button>
        <button type="button" className={`button ${danger ? 'danger' : 'primary'}`} disabled={busy} onClick={() => void confirm()}>
          {busy ? busyLabel : confirmLabel}
        </button>
      </div>
    </Modal>
  );
}
