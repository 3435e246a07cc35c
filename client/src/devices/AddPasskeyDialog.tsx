/**
 * Adding a passkey, step one: the account's password, asked in the app's own dialog (SPEC PK7: a
 * session alone cannot add one). The right password brings the creation options, handed to
 * `onOptions` (which runs the browser's ceremony); a wrong one is said at the field and the
 * dialog stays open. The password is only sent in the request's body, never kept.
 */
import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';
import { useId, useState, type FormEvent } from 'react';
import { api } from '../api/endpoints.js';
import { ApiError, describeError } from '../api/http.js';
import { describePasskeyError } from '../auth/passkey-errors.js';
import { ErrorNotice, Modal } from '../ui/bits.js';

export function AddPasskeyDialog({
  onOptions,
  onCancel,
}: {
  onOptions: (options: PublicKeyCredentialCreationOptionsJSON) => void;
  onCancel: () => void;
}) {
  const [password, setPassword] = useState('');
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fieldId = useId();
  const bodyId = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (!password) {
      setFieldError('Enter your password.');
      return;
    }
    setFieldError(null);
    setBusy(true);
    try {
      const options = await api.passkeys.registerOptions(password);
      setPassword('');
      onOptions(options);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_credentials') setFieldError('That is not your current password.');
      else if (err instanceof ApiError && err.code === 'rate_limited') setError(describeError(err));
      else setError(describePasskeyError(err, 'register'));
      setBusy(false);
    }
  };

  return (
    <Modal title="Add a passkey" onClose={onCancel} describedBy={bodyId}>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <p id={bodyId} className="confirm-body">
          First confirm it is you with your password. Then your browser asks for your fingerprint, face or screen lock to make the passkey.
        </p>
        <div className="field">
          <label htmlFor={fieldId}>Your password</label>
          <input
            id={fieldId}
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => {
              setPassword(e.target.value);
              setFieldError(null);
            }}
            aria-invalid={!!fieldError}
            aria-describedby={fieldError ? `${fieldId}-error` : undefined}
            data-autofocus
          />
          {fieldError && (
            <p id={`${fieldId}-error`} className="field-error">
              {fieldError}
            </p>
          )}
        </div>
        <ErrorNotice message={error} />
        <div className="modal-actions">
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Checking…' : 'Continue'}
          </button>
        </div>
      </form>
    </Modal>
  );
}
