/** Admin: who may register (open, or closed but for invites), and single-use invite links. */
import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/endpoints.js';
import { describeError } from '../api/http.js';
import { ErrorNotice } from '../ui/bits.js';
import { formatFull } from '../ui/format.js';

export function RegistrationPanel() {
  const [mode, setMode] = useState<'open' | 'closed' | 'invite' | null>(null);
  const [invite, setInvite] = useState<{ link: string; expiresAt: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    api.setup().then(
      (s) => setMode(s.registration),
      (err) => setError(describeError(err)),
    );
  }, []);
  useEffect(load, [load]);

  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      load();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const open = mode === 'open';
  return (
    <div className="registration-panel">
      <p>
        Registration is <strong>{mode === null ? '…' : open ? 'open to anyone' : 'closed (invite only)'}</strong>.{' '}
        <button type="button" className="button small" disabled={busy || mode === null} onClick={() => run(() => api.admin.setRegistration(open ? 'closed' : 'open'))}>
          {open ? 'Close registration' : 'Open registration'}
        </button>{' '}
        <button
          type="button"
          className="button small"
          disabled={busy}
          onClick={() =>
            run(async () => {
              const made = await api.admin.createInvite();
              setInvite({ link: `${window.location.origin}/?invite=${encodeURIComponent(made.code)}`, expiresAt: made.expiresAt });
            })
          }
        >
          Create invite link
        </button>
      </p>
      {invite ? (
        <p className="muted">
          Single-use link, shown once, valid until {formatFull(invite.expiresAt)}: <code>{invite.link}</code>
        </p>
      ) : null}
      <ErrorNotice message={error} />
    </div>
  );
}
