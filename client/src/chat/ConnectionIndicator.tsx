/**
 * Connecting, live, or "reconnecting in N s" with a way to retry at once. The sidebar shows it
 * always; `banner` is the copy at the top of the main pane, shown only while not live and only on
 * narrow screens, where the sidebar (and so the sidebar's indicator) is hidden.
 */
import { useEffect, useState } from 'react';
import { useStore } from '../state/use-store.js';

export function ConnectionIndicator({ banner = false }: { banner?: boolean }) {
  const store = useStore();
  const { state, retryAt } = store.status;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state !== 'disconnected' || !retryAt) return;
    // `now` is from the last tick, possibly long ago: without this the first frame of a new
    // countdown shows a wrong number of seconds.
    setNow(Date.now());
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
  if (banner && state === 'live') return null;
  return (
    <div className={`${banner ? 'connection-banner' : 'connection'} ${tone}`} role="status" aria-live="polite" data-state={state}>
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
