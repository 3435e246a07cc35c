/**
 * In place of the composer in a public channel one is not in (opened from a search result or
 * a link): reading is allowed, writing needs joining first.
 */
import { useState } from 'react';
import type { Channel } from '../../../shared/api.js';
import { describeError } from '../api/http.js';
import { useStore } from '../state/use-store.js';
import './join-bar.css';

export function JoinBar({ channel }: { channel: Channel }) {
  const store = useStore();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const join = async () => {
    setBusy(true);
    setError(null);
    try {
      await store.join(channel.id);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };
  return (
    <div className="join-bar" role="region" aria-label="Join this channel">
      <p>
        You are reading <strong>#{channel.name}</strong>. Join it to write here and get its new messages.
      </p>
      <button type="button" className="button primary" onClick={() => void join()} disabled={busy}>
        {busy ? 'Joining…' : 'Join channel'}
      </button>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
