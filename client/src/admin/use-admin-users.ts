/**
 * The admin's list of users, kept current without a reload.
 *
 * The list comes from GET /api/admin/users; it is read again when the realtime connection says
 * something changed: a `presence` event (someone connected or left: a new account's first
 * socket, a disabled account's sockets closing), `members_changed` / `channel_added` (people
 * joining channels), and whenever our own connection becomes live (the page may have asked
 * before this device's socket counted). A presence event also applies at once, ahead of the
 * list it triggers. The admin's own row is online while this page's connection is live: the
 * page is this device's socket. What no socket reports (an account made by the CLI that never
 * connected, a change to someone who shares no channel with the admin) is caught by a slow poll
 * while the page is visible, and on coming back to the tab.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { AdminUser } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { describeError } from '../api/http.js';
import { useStore } from '../state/use-store.js';

/** A burst of events (a reconnect storm, ten people joining) makes one request. */
const RELOAD_DEBOUNCE_MS = 250;
const POLL_MS = 30_000;

export function useAdminUsers(): { users: AdminUser[] | null; error: string | null; reload: () => void } {
  const store = useStore();
  const [users, setUsers] = useState<AdminUser[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** Presence heard on the socket, with when: newer than a list's request, it wins over the list. */
  const heard = useRef(new Map<string, { online: boolean; at: number }>());
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const load = useCallback(() => {
    const askedAt = performance.now();
    api.admin.users().then(
      (list) => {
        setError(null);
        setUsers(
          list.map((u) => {
            const h = heard.current.get(u.id);
            return h && h.at > askedAt ? { ...u, online: h.online } : u;
          }),
        );
        store.rememberPeople(list);
      },
      (err) => setError(describeError(err)),
    );
  }, [store]);

  const reloadSoon = useCallback(() => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      timer.current = null;
      load();
    }, RELOAD_DEBOUNCE_MS);
  }, [load]);

  useEffect(() => {
    load();
    const rt = store.rt;
    let wasLive = rt.getStatus().state === 'live';
    const offs = [
      rt.on('presence', ({ userId, status }) => {
        const online = status === 'online';
        heard.current.set(userId, { online, at: performance.now() });
        setUsers((list) => list && list.map((u) => (u.id === userId && u.online !== online ? { ...u, online } : u)));
        reloadSoon();
      }),
      rt.on('members_changed', reloadSoon),
      rt.on('channel_added', reloadSoon),
      rt.on('status', (s) => {
        const isLive = s.state === 'live';
        if (isLive && !wasLive) reloadSoon();
        wasLive = isLive;
      }),
    ];
    const visible = () => {
      if (document.visibilityState === 'visible') reloadSoon();
    };
    document.addEventListener('visibilitychange', visible);
    const poll = setInterval(() => {
      if (document.visibilityState === 'visible') load();
    }, POLL_MS);
    return () => {
      for (const off of offs) off();
      document.removeEventListener('visibilitychange', visible);
      clearInterval(poll);
      if (timer.current) clearTimeout(timer.current);
    };
  }, [store, load, reloadSoon]);

  // Our own socket is this page: while it is live we are online, whatever the list said when it was read.
  const live = store.status.state === 'live';
  const shown = users && users.map((u) => (u.id === store.me.id && u.online !== live ? { ...u, online: live } : u));
  return { users: shown, error, reload: load };
}
