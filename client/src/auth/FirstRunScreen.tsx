/**
 * The first screen of a fresh install (GET /api/setup: needsAdmin): it says that the account
 * made now is the administrator, and makes it (the server makes the first account an admin and
 * puts it in the default channel, where the app then opens). When registration is closed, the
 * administrator can only be made on the server, and the screen says how.
 */
import { useId, useState, type FormEvent } from 'react';
import type { User } from '../../../shared/api.js';
import { password as passwordSchema, username as usernameSchema } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { describeError } from '../api/http.js';
import type { Registration } from './RegistrationNote.js';
import './first-run.css';

type Field = 'username' | 'password' | 'confirm';

export function FirstRunScreen({
  registration,
  onSignedIn,
  onSignIn,
}: {
  registration: Registration;
  onSignedIn: (me: User, deviceId: string) => void;
  /** Someone made the administrator meanwhile (or on the server): go to sign-in. */
  onSignIn: () => void;
}) {
  const [values, setValues] = useState({ username: '', displayName: '', password: '', confirm: '' });
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = { username: useId(), displayName: useId(), password: useId(), confirm: useId() };
  const closed = registration !== 'open';

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const u = usernameSchema.safeParse(values.username);
    const p = passwordSchema.safeParse(values.password);
    const fieldErrors: Partial<Record<Field, string>> = {
      username: u.success ? undefined : `Username ${u.error.issues[0].message}.`,
      password: p.success ? undefined : `Password ${p.error.issues[0].message}.`,
      confirm: values.confirm === values.password ? undefined : 'The two passwords are not the same.',
    };
    setErrors(fieldErrors);
    if (Object.values(fieldErrors).some(Boolean)) return;
    setBusy(true);
    try {
      // Someone may have set the server up since this page loaded: then this would be an ordinary
      // account, not the administrator the screen promised.
      if (!(await api.setup()).needsAdmin) {
        setError('Someone has just set up this server, so this account would not be the administrator.');
        setBusy(false);
        return;
      }
      const res = await api.register(values.username.trim(), values.password, values.displayName.trim() || undefined);
      onSignedIn(res.user, res.device.id);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  const input = (name: keyof typeof values, label: string, props: { type?: string; autoComplete: string; hint?: string; optional?: boolean }) => {
    const fieldError = name === 'displayName' ? undefined : errors[name];
    return (
      <div className="field">
        <label htmlFor={ids[name]}>
          {label} {props.optional && <span className="muted">(optional)</span>}
        </label>
        <input
          id={ids[name]}
          name={name}
          type={props.type ?? 'text'}
          autoComplete={props.autoComplete}
          autoCapitalize={name === 'username' ? 'none' : undefined}
          spellCheck={name === 'username' ? false : undefined}
          value={values[name]}
          onChange={(e) => setValues((v) => ({ ...v, [name]: e.target.value }))}
          aria-invalid={!!fieldError}
          aria-describedby={fieldError ? `${ids[name]}-error` : props.hint ? `${ids[name]}-hint` : undefined}
          autoFocus={name === 'username'}
        />
        {fieldError ? (
          <p id={`${ids[name]}-error`} className="field-error">
            {fieldError}
          </p>
        ) : (
          props.hint && (
            <p id={`${ids[name]}-hint`} className="field-hint muted">
              {props.hint}
            </p>
          )
        )}
      </div>
    );
  };

  return (
    <div className="auth-page">
      <main className="auth-card first-run" aria-labelledby="first-run-title">
        <div className="auth-brand">
          <div className="brand-mark" aria-hidden="true">R</div>
          <span>Relay</span>
        </div>
        <p className="first-run-step">First run</p>
        <h1 id="first-run-title">Set up Relay</h1>
        <p className="first-run-lead">
          Nobody has an account here yet. <strong>The account you create now is the administrator</strong>: it manages people, devices and
          who may register.
        </p>

        {closed ? (
          <>
            <div className="notice info" role="note">
              Registration is closed on this server, so the administrator is made on the server itself:
              <code className="first-run-command">npm run cli -- user:create --username NAME --password-stdin --admin</code>
            </div>
            <button type="button" className="button primary block" onClick={onSignIn}>
              I have made it: sign in
            </button>
          </>
        ) : (
          <form onSubmit={submit} noValidate>
            {input('username', 'Username', { autoComplete: 'username', hint: '3 to 32 of a-z, 0-9, _ . -' })}
            {input('displayName', 'Display name', { autoComplete: 'name', optional: true })}
            {input('password', 'Password', { type: 'password', autoComplete: 'new-password', hint: '8 to 128 characters.' })}
            {input('confirm', 'Repeat the password', { type: 'password', autoComplete: 'new-password' })}
            {error && (
              <div className="notice error" role="alert">
                {error}{' '}
                <button type="button" className="link-button" onClick={onSignIn}>
                  Go to sign in
                </button>
              </div>
            )}
            <button type="submit" className="button primary block" disabled={busy}>
              {busy ? 'Creating…' : 'Create the administrator account'}
            </button>
          </form>
        )}
      </main>
    </div>
  );
}
