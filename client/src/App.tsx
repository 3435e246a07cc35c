/**
 * The session gate: asks the server who we are (GET /api/auth/me), then shows sign-in or the chat.
 * A signed-out device (close 4403) or a lost session (401) returns here with a notice.
 */
import { useCallback, useEffect, useState } from 'react';
import type { User } from '../../shared/api.js';
import { api } from './api/endpoints.js';
import { ApiError, describeError, onUnauthenticated } from './api/http.js';
import { SignedOut } from './auth/SignedOut.js';
import { Shell } from './chat/Shell.js';
import { navigate } from './ui/router.js';

type Session =
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'out'; notice?: string }
  /** `land`: a new account, opened in its first channel (the default one it was put in). */
  | { kind: 'in'; me: User; deviceId: string; land?: boolean };

export function App() {
  const [session, setSession] = useState<Session>({ kind: 'loading' });

  const check = useCallback(() => {
    setSession({ kind: 'loading' });
    api.me().then(
      ({ user, device }) => setSession({ kind: 'in', me: user, deviceId: device.id }),
      (err) => {
        // invalid_proof (POP8): the session exists but this browser lacks its key; say so.
        if (err instanceof ApiError && err.status === 401) setSession({ kind: 'out', notice: err.code === 'invalid_proof' ? describeError(err) : undefined });
        else setSession({ kind: 'error', message: describeError(err) });
      },
    );
  }, []);

  useEffect(check, [check]);

  useEffect(
    () =>
      onUnauthenticated((message) =>
        setSession((s) => (s.kind === 'in' ? { kind: 'out', notice: message || 'Your session ended. Sign in again.' } : s)),
      ),
    [],
  );

  const signedOut = useCallback((notice?: string) => {
    navigate({ name: 'home' }, { replace: true });
    setSession({ kind: 'out', notice });
  }, []);

  switch (session.kind) {
    case 'loading':
      return (
        <div className="splash" role="status" aria-live="polite">
          <div className="brand-mark large" aria-hidden="true">R</div>
          <p>Loading Relay…</p>
        </div>
      );
    case 'error':
      return (
        <div className="splash" role="alert">
          <div className="brand-mark large" aria-hidden="true">R</div>
          <p>{session.message}</p>
          <button type="button" className="button primary" onClick={check}>
            Try again
          </button>
        </div>
      );
    case 'out':
      return <SignedOut notice={session.notice} onSignedIn={(me, deviceId, registered) => setSession({ kind: 'in', me, deviceId, land: registered })} />;
    case 'in':
      return <Shell key={session.deviceId} me={session.me} deviceId={session.deviceId} land={session.land} onSignedOut={signedOut} />;
  }
}
