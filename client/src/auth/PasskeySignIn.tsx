/**
 * "Sign in with a passkey": no username typed. The server's options go to the browser's
 * authenticator (discoverable credentials, user verification), its answer to the server, and a
 * success reaches the same `onSignedIn` as the password form. Hidden where the browser has no
 * WebAuthn (an old browser, or a page that is not a secure context).
 */
import { browserSupportsWebAuthn, startAuthentication } from '@simplewebauthn/browser';
import { useEffect, useState } from 'react';
import type { User } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { ApiError, formatWait } from '../api/http.js';
import { Icon } from '../ui/bits.js';
import { describePasskeyError } from './passkey-errors.js';

export function PasskeySignIn({ onSignedIn }: { onSignedIn: (me: User, deviceId: string) => void }) {
  const [supported] = useState(() => browserSupportsWebAuthn());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [waitUntil, setWaitUntil] = useState<number | null>(null);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    if (!waitUntil) return;
    const t = setInterval(() => {
      setNow(Date.now());
      if (Date.now() >= waitUntil) {
        setWaitUntil(null);
        setError(null);
      }
    }, 1000);
    return () => clearInterval(t);
  }, [waitUntil]);

  if (!supported) return null;
  const waiting = waitUntil !== null && waitUntil > now;

  const signIn = async () => {
    setError(null);
    setBusy(true);
    try {
      const optionsJSON = await api.passkeys.loginOptions();
      const response = await startAuthentication({ optionsJSON });
      const res = await api.passkeys.login(response);
      onSignedIn(res.user, res.device.id);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'rate_limited' && err.retryAfter) {
        setWaitUntil(Date.now() + err.retryAfter * 1000);
        setNow(Date.now());
      }
      setError(describePasskeyError(err, 'sign-in'));
    } finally {
      setBusy(false);
    }
  };

  const errorText = waiting ? `Too many attempts. Try again in ${formatWait(Math.ceil((waitUntil! - now) / 1000))}.` : error;

  return (
    <div className="passkey-signin">
      <p className="or-divider">or</p>
      <button type="button" className="button block" onClick={() => void signIn()} disabled={busy || waiting}>
        <Icon name="lock" />
        {busy ? 'Waiting for your passkey…' : 'Sign in with a passkey'}
      </button>
      {errorText && (
        <div className="notice error" role="alert">
          {errorText}
        </div>
      )}
    </div>
  );
}
