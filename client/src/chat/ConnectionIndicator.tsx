/**
 * Connecting, live, or "reconnecting in N s" with a way to retry at once. The sidebar shows it
 * always, as a small line; `banner` is the copy at the top of the main pane, at every width,
 * shown once a connection was lost or failed (not while the page first connects), with how many
 * messages wait to go out.
 */
import { useEffect, useState } from 'react';
import { useStore } from '../state/use-store.js';

export function ConnectionIndicator({ banner = false }: { banner?: boolean }) {
  const store = useStore();
  const { state, retryAt, attempt, closeCode, stopped } = store.status;
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
    label = banner ? 'Reconnecting…' : 'Connecting…';
    tone = 'connecting';
  } else if (retryAt) {
    const s = Math.max(0, Math.ceil((retryAt - now) / 1000));
    label = s > 0 ? `Reconnecting in ${s} s` : 'Reconnecting…';
    tone = 'reconnecting';
  } else {
    label = 'Offline';
    tone = 'reconnecting';
  }
  const retry =
    state === 'disconnected' && retryAt ? (
      <button type="button" className="link-button" onClick={() => store.rt.reconnectNow()}>
        Retry now
      </button>
    ) : null;

  if (!banner) {
    return (
      <div className={`connection ${tone}`} role="status" aria-live="polite" data-state={state}>
        <span className="connection-dot" aria-hidden="true" />
        <span>{label}</span>
        {retry}
      </div>
    );
  }

  const lost = attempt > 0 || closeCode !== undefined || stopped !== null;
  if (state === 'live' || !lost) return null;
  const unsent = store.outbox.filter((e) => e.status === 'pending').length;
  return (
    <div className={`connection-banner ${tone}`} role="status" aria-live="polite" data-state={state}>
      <span className="connection-dot" aria-hidden="true" />
      <strong>Not connected.</strong>
      <span>{label}</span>
      {unsent > 0 && (
        <span className="connection-unsent">
          <span aria-hidden="true">· </span>
          {unsent === 1 ? '1 message' : `${unsent} messages`} will be sent when the connection is back.
        </span>
      )}
      {retry}
    </div>
  );
}
