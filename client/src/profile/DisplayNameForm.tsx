/** Changing one's display name: everyone in one's channels sees the new name at once (user_updated). */
import { useId, useState, type FormEvent } from 'react';
import { LIMITS } from '../../../shared/codes.js';
import { api } from '../api/endpoints.js';
import { ApiError, describeError, formatWait } from '../api/http.js';
import { useStore } from '../state/use-store.js';

export function DisplayNameForm() {
  const store = useStore();
  const [name, setName] = useState(() => store.me.displayName);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState('');
  const id = useId();
  const errorId = useId();
  const trimmed = name.trim();
  const unchanged = trimmed === store.me.displayName;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setDone('');
    if (!trimmed) return setError('Enter a name, or keep the one you have.');
    if ([...trimmed].length > LIMITS.displayNameMax) return setError(`A name has at most ${LIMITS.displayNameMax} characters.`);
    setError(null);
    setBusy(true);
    try {
      const user = await api.updateMe(trimmed);
      store.takeUser(user);
      setName(user.displayName);
      setDone('Saved. People in your channels see the new name now.');
    } catch (err) {
      setError(
        err instanceof ApiError && err.code === 'rate_limited'
          ? `Too many name changes. Try again in ${formatWait(err.retryAfter ?? 60)}.`
          : describeError(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="profile-form" onSubmit={submit} noValidate>
      <div className="field">
        <label htmlFor={id}>Display name</label>
        <input
          id={id}
          name="displayName"
          autoComplete="name"
          maxLength={LIMITS.displayNameMax * 2}
          value={name}
          onChange={(e) => {
            setName(e.target.value);
            setDone('');
          }}
          aria-invalid={!!error}
          aria-describedby={error ? errorId : undefined}
        />
        {error && (
          <p id={errorId} className="field-error" role="alert">
            {error}
          </p>
        )}
      </div>
      <div className="profile-actions">
        <button type="submit" className="button primary" disabled={busy || unchanged}>
          {busy ? 'Saving…' : 'Save name'}
        </button>
        <p className="profile-done" role="status">
          {done}
        </p>
      </div>
    </form>
  );
}
