/**
 * My passkeys, on the devices page: add one (the account's password first, in the app's own
 * dialog, then the browser's authenticator makes it), see when each was added and last used,
 * rename one, and remove one after an in-app question.
 */
import { browserSupportsWebAuthn, startRegistration, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';
import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import type { Passkey } from '../../../shared/api.js';
import { LIMITS } from '../../../shared/codes.js';
import { api } from '../api/endpoints.js';
import { describeError } from '../api/http.js';
import { describePasskeyError } from '../auth/passkey-errors.js';
import { ConfirmDialog } from '../ui/ConfirmDialog.js';
import { ErrorNotice, Icon } from '../ui/bits.js';
import { formatAgo, formatFull } from '../ui/format.js';
import { AddPasskeyDialog } from './AddPasskeyDialog.js';

export function PasskeysSection() {
  const [supported] = useState(() => browserSupportsWebAuthn());
  const [passkeys, setPasskeys] = useState<Passkey[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [asking, setAsking] = useState(false);
  const [editing, setEditing] = useState<{ id: string; name: string; error?: string; busy?: boolean } | null>(null);
  const [removing, setRemoving] = useState<Passkey | null>(null);
  const [status, setStatus] = useState('');
  const titleId = useId();
  const nameId = useId();

  const load = useCallback(() => {
    api.passkeys.list().then(
      (list) => {
        setPasskeys(list);
        setError(null);
      },
      (err) => setError(describeError(err)),
    );
  }, []);
  useEffect(load, [load]);

  /** Step two, once the password brought the options: the browser's ceremony, then the server's check. */
  const add = async (optionsJSON: PublicKeyCredentialCreationOptionsJSON) => {
    setAsking(false);
    setError(null);
    setAdding(true);
    try {
      const response = await startRegistration({ optionsJSON });
      const added = await api.passkeys.register(response);
      setStatus(`Passkey “${added.name}” added.`);
      load();
    } catch (err) {
      setError(describePasskeyError(err, 'register'));
    } finally {
      setAdding(false);
    }
  };

  const saveName = async (e: FormEvent) => {
    e.preventDefault();
    if (!editing) return;
    const name = editing.name.trim();
    if (!name || name.length > LIMITS.deviceNameMax) {
      setEditing({ ...editing, error: `A name is 1 to ${LIMITS.deviceNameMax} characters.` });
      return;
    }
    setEditing({ ...editing, busy: true, error: undefined });
    try {
      const renamed = await api.passkeys.rename(editing.id, name);
      setPasskeys((list) => list?.map((p) => (p.id === renamed.id ? renamed : p)) ?? list);
      setEditing(null);
      setStatus(`Passkey renamed to “${renamed.name}”.`);
    } catch (err) {
      setEditing({ ...editing, busy: false, error: describeError(err) });
    }
  };

  const remove = async (p: Passkey) => {
    await api.passkeys.remove(p.id);
    setRemoving(null);
    setPasskeys((list) => list?.filter((x) => x.id !== p.id) ?? list);
    setStatus(`Passkey “${p.name}” removed.`);
  };

  return (
    <section className="passkeys" aria-labelledby={titleId}>
      <div className="passkeys-header">
        <h2 className="section-title" id={titleId}>
          Passkeys{passkeys ? ` (${passkeys.length})` : ''}
        </h2>
        {supported && (
          <button type="button" className="button small primary" onClick={() => (setError(null), setAsking(true))} disabled={adding}>
            <Icon name="plus" size={16} />
            {adding ? 'Waiting for your passkey…' : 'Add a passkey'}
          </button>
        )}
      </div>
      <p className="muted small passkeys-intro">
        Sign in without a password, with your fingerprint, face or screen lock. No username needed.
      </p>
      {!supported && <p className="notice warning">This browser cannot make passkeys here. You can still rename or remove the ones you have.</p>}
      <ErrorNotice message={error} />
      <p className="sr-only" role="status">
        {status}
      </p>
      {passkeys === null && !error && <p className="muted">Loading passkeys…</p>}
      {passkeys?.length === 0 && <p className="muted small">You have no passkeys yet.</p>}
      {passkeys && passkeys.length > 0 && (
        <ul className="device-list" aria-label="Your passkeys">
          {passkeys.map((p) => (
            <li key={p.id} className="device-card passkey-card">
              <span className="device-icon">
                <Icon name="lock" size={20} />
              </span>
              <div className="device-text">
                {editing?.id === p.id ? (
                  <form className="passkey-rename" onSubmit={(e) => void saveName(e)} noValidate>
                    <label htmlFor={nameId} className="sr-only">
                      Passkey name
                    </label>
                    <input
                      id={nameId}
                      value={editing.name}
                      maxLength={LIMITS.deviceNameMax + 20}
                      onChange={(e) => setEditing({ ...editing, name: e.target.value, error: undefined })}
                      onKeyDown={(e) => e.key === 'Escape' && setEditing(null)}
                      aria-invalid={!!editing.error}
                      autoFocus
                    />
                    <button type="submit" className="button small primary" disabled={editing.busy}>
                      {editing.busy ? 'Saving…' : 'Save'}
                    </button>
                    <button type="button" className="button small" onClick={() => setEditing(null)}>
                      Cancel
                    </button>
                  </form>
                ) : (
                  <div className="device-title">
                    <strong>{p.name}</strong>
                  </div>
                )}
                {editing?.id === p.id && editing.error && <p className="field-error">{editing.error}</p>}
                <p className="muted small">
                  Added {formatFull(p.createdAt)} · {p.lastUsedAt ? `Last used ${formatAgo(p.lastUsedAt)}` : 'Not used yet'}
                </p>
              </div>
              {editing?.id !== p.id && (
                <div className="passkey-actions">
                  <button type="button" className="button small" onClick={() => setEditing({ id: p.id, name: p.name })} aria-label={`Rename ${p.name}`}>
                    Rename
                  </button>
                  <button type="button" className="button small danger" onClick={() => setRemoving(p)} aria-label={`Remove ${p.name}`}>
                    Remove
                  </button>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      {asking && <AddPasskeyDialog onOptions={(o) => void add(o)} onCancel={() => setAsking(false)} />}
      {removing && (
        <ConfirmDialog
          title="Remove this passkey?"
          confirmLabel="Remove passkey"
          busyLabel="Removing…"
          danger
          onConfirm={() => remove(removing)}
          onCancel={() => setRemoving(null)}
        >
          <p>
            “{removing.name}” will no longer sign you in. Devices already signed in stay signed in. You can also delete it from your device or
            password manager.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
