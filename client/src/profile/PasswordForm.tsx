/**
 * Changing one's password: the current one, the new one twice. Every other device of the
 * account is signed out by the server (its sockets close 4403 password_changed); this one stays.
 */
import { useId, useState, type FormEvent } from 'react';
import { password as passwordSchema } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { ApiError, describeError } from '../api/http.js';

/** "Signed out 2 other devices." (+ "Removed 1 passkey added from another device.") */
export function revokedSentence(n: number, passkeys = 0): string {
  const devices = n === 0 ? 'No other device was signed in.' : `Signed out ${n} other device${n === 1 ? '' : 's'}.`;
  return passkeys === 0 ? devices : `${devices} Removed ${passkeys} passkey${passkeys === 1 ? '' : 's'} added from another device.`;
}

type Field = 'current' | 'next' | 'confirm';

export function PasswordForm() {
  const [values, setValues] = useState<Record<Field, string>>({ current: '', next: '', confirm: '' });
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  const ids = { current: useId(), next: useId(), confirm: useId() };

  const set = (field: Field, value: string) => {
    setValues((v) => ({ ...v, [field]: value }));
    setDone('');
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone('');
    const checked = passwordSchema.safeParse(values.next);
    const fieldErrors: Partial<Record<Field, string>> = {
      current: values.current ? undefined : 'Enter your current password.',
      next: checked.success ? undefined : `The new password ${checked.error.issues[0].message}.`,
      confirm: values.confirm === values.next ? undefined : 'The two new passwords are not the same.',
    };
    setErrors(fieldErrors);
    if (Object.values(fieldErrors).some(Boolean)) return;
    setBusy(true);
    try {
      const { revoked, passkeysRemoved } = await api.changePassword(values.current, values.next);
      setValues({ current: '', next: '', confirm: '' });
      setDone(`Password changed. ${revokedSentence(revoked, passkeysRemoved)}`);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_credentials') setErrors({ current: 'That is not your current password.' });
      else setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const field = (name: Field, label: string, autoComplete: string, hint?: string) => (
    <div className="field">
      <label htmlFor={ids[name]}>{label}</label>
      <input
        id={ids[name]}
        name={name}
        type="password"
        autoComplete={autoComplete}
        value={values[name]}
        onChange={(e) => set(name, e.target.value)}
        aria-invalid={!!errors[name]}
        aria-describedby={errors[name] ? `${ids[name]}-error` : hint ? `${ids[name]}-hint` : undefined}
      />
      {errors[name] ? (
        <p id={`${ids[name]}-error`} className="field-error">
          {errors[name]}
        </p>
      ) : (
        hint && (
          <p id={`${ids[name]}-hint`} className="field-hint muted">
            {hint}
          </p>
        )
      )}
    </div>
  );

  return (
    <form className="profile-form" onSubmit={submit} noValidate>
      {/* For password managers: whose password this is. */}
      <input type="text" name="username" autoComplete="username" hidden readOnly />
      {field('current', 'Current password', 'current-password')}
      {field('next', 'New password', 'new-password', '8 to 128 characters. Your other devices will be signed out.')}
      {field('confirm', 'Repeat the new password', 'new-password')}
      {error && (
        <div className="notice error" role="alert">
          {error}
        </div>
      )}
      <div className="profile-actions">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Changing…' : 'Change password'}
        </button>
        <p className="profile-done" role="status">
          {done}
        </p>
      </div>
    </form>
  );
}
