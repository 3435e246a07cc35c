/** Connecting, live, or "reconnecting in N s" with a way to retry at once. */
import { useEffect, useState } from 'react';
import { useStore } from '../state/use-store.js';

export function ConnectionIndicator() {
  const store = useStore();
  const { state, retryAt } = store.status;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state !== 'disconnected' || !retryAt) return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [state, retryAt]);

  let label: string;
  let tone: string;
  if (state === 'live') {
    label = 'Live';
    tone = 'live';
  } else if (state === 'connecting' || state === 'authenticating') {
    label = 'Connecting…';
    tone = 'connecting';
  } else if (retryAt) {
    const s = Math.max(0, Math.ceil((retryAt - now) / 1000));
    label = s > 0 ? `Reconnecting in ${s} s` : 'Reconnecting…';
    tone = 'reconnecting';
  } else {
    label = 'Offline';
    tone = 'reconnecting';
  }
  return (
    <div className={`connection ${tone}`} role="status" aria-live="polite" data-state={state}>
      <span className="connection-dot" aria-hidden="true" />
      <span>{label}</span>
      {state === 'disconnected' && retryAt && (
        <button type="button" className="link-button" onClick={() => store.rt.reconnectNow()}>
          Retry now
        </button>
      )}
    </div>
  );
}
