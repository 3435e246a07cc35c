/** Sign in and register, with every failure said in words (and a countdown when rate limited). */
import { useId, useState, type FormEvent } from 'react';
import type { User } from '../../../shared/api.js';
import { password as passwordSchema, username as usernameSchema } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { describeError, formatWait } from '../api/http.js';
import { PasskeySignIn } from './PasskeySignIn.js';
import { InviteCodeField, RegistrationNote, type Registration } from './RegistrationNote.js';
import { useLoginThrottle } from './use-login-throttle.js';

type Mode = 'signin' | 'register';

export function AuthScreen({
  notice,
  registration,
  onSignedIn,
}: {
  notice?: string;
  /** How accounts are made here (GET /api/setup), said on the screen; unknown: nothing is said. */
  registration?: Registration;
  onSignedIn: (me: User, deviceId: string, registered?: boolean) => void;
}) {
  // An invite link (`/?invite=<code>`, made by an admin) opens on the register tab and carries its code.
  const [linkInvite] = useState(() => new URLSearchParams(window.location.search).get('invite') ?? undefined);
  const [typedInvite, setTypedInvite] = useState('');
  const invite = linkInvite ?? (typedInvite || undefined);
  // Closed without an invite: there is nothing to register with, so only sign-in is offered.
  const canRegister = registration !== 'closed' || !!linkInvite;
  const [mode, setMode] = useState<Mode>(linkInvite ? 'register' : 'signin');
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<{ username?: string; password?: string }>({});
  const [busy, setBusy] = useState(false);
  // The notice that brought us here (e.g. "disabled by an administrator") is stale once a new attempt starts.
  const [noticeShown, setNoticeShown] = useState(true);
  const throttle = useLoginThrottle();
  const ids = { u: useId(), d: useId(), p: useId(), ue: useId(), pe: useId() };

  const wait = throttle.waitFor(mode, username);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setNoticeShown(false);
    if (mode === 'register') {
      const u = usernameSchema.safeParse(username);
      const p = passwordSchema.safeParse(password);
      const fe = {
        username: u.success ? undefined : `Username ${u.error.issues[0].message}.`,
        password: p.success ? undefined : `Password ${p.error.issues[0].message}.`,
      };
      setFieldErrors(fe);
      if (fe.username || fe.password) return;
    } else {
      setFieldErrors({});
      if (!username.trim() || !password) {
        setError('Enter your username and password.');
        return;
      }
    }
    setBusy(true);
    try {
      const res = mode === 'signin' ? await api.login(username.trim(), password) : await api.register(username.trim(), password, displayName.trim() || undefined, invite);
      onSignedIn(res.user, res.device.id, mode === 'register');
    } catch (err) {
      // A rate limit is shown by its countdown, for the username (or address) it applies to.
      if (!throttle.record(mode, username, err)) setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const switchMode = (m: Mode) => {
    setMode(m);
    setError(null);
    setFieldErrors({});
  };

  const errorText = wait
    ? `Too many attempts ${wait.scope === 'address' ? 'from this network' : `for “${username.trim()}”`}. Try again in ${formatWait(wait.seconds)}.`
    : error;

  return (
    <div className="auth-page">
      <main className="auth-card" aria-labelledby="auth-title">
        <div className="auth-brand">
          <div className="brand-mark" aria-hidden="true">R</div>
          <span>Relay</span>
        </div>
        <h1 id="auth-title">{mode === 'signin' ? 'Sign in' : 'Create your account'}</h1>
        <p className="muted">{mode === 'signin' ? 'Welcome back. Your conversations are waiting.' : 'Messages and presence, on your own server.'}</p>

        {notice && noticeShown && (
          <div className="notice warning" role="alert">
            {notice}
          </div>
        )}

        <RegistrationNote registration={registration} hasInvite={!!linkInvite} />

        <div className="segmented" role="tablist" aria-label="Sign in or register" hidden={!canRegister}>
          <button type="button" role="tab" aria-selected={mode === 'signin'} onClick={() => switchMode('signin')}>
            Sign in
          </button>
          <button type="button" role="tab" aria-selected={mode === 'register'} onClick={() => switchMode('register')}>
            Register
          </button>
        </div>

        <form onSubmit={submit} noValidate>
          <div className="field">
            <label htmlFor={ids.u}>Username</label>
            <input
              id={ids.u}
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              aria-invalid={!!fieldErrors.username}
              aria-describedby={fieldErrors.username ? ids.ue : undefined}
              autoFocus
            />
            {fieldErrors.username && (
              <p id={ids.ue} className="field-error">
                {fieldErrors.username}
              </p>
            )}
          </div>
          {mode === 'register' && registration === 'invite' && !linkInvite && <InviteCodeField value={typedInvite} onChange={setTypedInvite} />}
          {mode === 'register' && (
            <div className="field">
              <label htmlFor={ids.d}>
                Display name <span className="muted">(optional)</span>
              </label>
              <input id={ids.d} name="displayName" autoComplete="name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
            </div>
          )}
          <div className="field">
            <label htmlFor={ids.p}>Password</label>
            <input
              id={ids.p}
              name="password"
              type="password"
              autoComplete={mode === 'signin' ? 'current-password' : 'new-password'}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={!!fieldErrors.password}
              aria-describedby={fieldErrors.password ? ids.pe : undefined}
            />
            {fieldErrors.password && (
              <p id={ids.pe} className="field-error">
                {fieldErrors.password}
              </p>
            )}
          </div>
          {errorText && (
            <div className="notice error" role="alert">
              {errorText}
            </div>
          )}
          <button type="submit" className="button primary block" disabled={busy || wait !== null}>
            {busy ? 'Please wait…' : mode === 'signin' ? 'Sign in' : 'Create account'}
          </button>
        </form>
        {mode === 'signin' && <PasskeySignIn onSignedIn={onSignedIn} />}
      </main>
    </div>
  );
}
