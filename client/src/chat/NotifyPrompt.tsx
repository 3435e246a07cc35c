/** The in-app question that leads to the browser's notification permission prompt (asked only on a click). */
import { useState } from 'react';
import { notificationsSupported } from './notifier.js';

const DISMISSED = 'relay:notify-prompt-dismissed';

export function NotifyPrompt() {
  const [state, setState] = useState(() => (notificationsSupported() ? Notification.permission : 'denied'));
  const [dismissed, setDismissed] = useState(() => localStorage.getItem(DISMISSED) === '1');
  if (state !== 'default' || dismissed) return null;
  return (
    <div className="notify-prompt" role="region" aria-label="Notifications">
      <span>Get notified of direct messages and mentions while Relay is in the background.</span>
      <button type="button" className="button small primary" onClick={() => void Notification.requestPermission().then(setState)}>
        Enable
      </button>
      <button
        type="button"
        className="link-button subtle"
        onClick={() => {
          localStorage.setItem(DISMISSED, '1');
          setDismissed(true);
        }}
      >
        Not now
      </button>
    </div>
  );
}
