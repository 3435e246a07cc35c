/**
 * Desktop notifications (the Notification API) for direct messages and mentions of us, while
 * this tab is hidden or the window is not focused, in channels we have not muted. Permission is
 * only ever asked for from a click on the in-app prompt (NotifyPrompt), never on page load.
 * Clicking a notification focuses the window and opens the conversation.
 */
import type { ChatStore } from '../state/chat-store.js';
import { navigate } from '../ui/router.js';

const BODY_MAX = 140;

export function notificationsSupported(): boolean {
  return typeof window !== 'undefined' && 'Notification' in window;
}

/** Starts notifying for the store's messages; returns the function that stops it. */
export function startNotifier(store: ChatStore): () => void {
  return store.rt.on('message', ({ message, replay }) => {
    // A replay after a reconnect is old news, possibly many messages: no burst of popups.
    if (replay || message.senderId === store.me.id || message.deletedAt) return;
    if (!notificationsSupported() || Notification.permission !== 'granted') return;
    if (document.visibilityState === 'visible' && document.hasFocus()) return;
    const channel = store.channels.get(message.channelId);
    if (!channel || channel.muted) return;
    const mentioned = message.mentions.includes(store.me.id);
    if (channel.kind !== 'direct' && !mentioned) return;
    const who = store.personName(message.senderId);
    const title = channel.kind === 'direct' ? who : `${who} mentioned you in #${channel.name}`;
    const body = message.body.length > BODY_MAX ? `${message.body.slice(0, BODY_MAX - 1)}…` : message.body;
    try {
      const n = new Notification(title, { body, tag: `relay:${message.channelId}` });
      n.onclick = () => {
        window.focus();
        navigate({ name: 'channel', id: message.channelId });
        n.close();
      };
    } catch (err) {
      // Some browsers (Android Chrome) allow notifications only from a service worker.
      console.warn('[relay] could not show a notification', err);
    }
  });
}
