/**
 * The signed-in app: sidebar (search, channels, direct messages, account) and the main pane (a
 * channel, search results, Profile, My devices, or Admin). Owns the ChatStore and its realtime connection for this device.
 */
import { useEffect, useRef, useState } from 'react';
import type { User } from '../../../shared/api.js';
import { AdminView } from '../admin/AdminView.js';
import { DevicesView } from '../devices/DevicesView.js';
import { ProfileView } from '../profile/ProfileView.js';
import { SearchView } from '../search/SearchView.js';
import { useSearchShortcut } from '../search/shortcut.js';
import { ChatStore } from '../state/chat-store.js';
import { StoreContext, useStore } from '../state/use-store.js';
import { ErrorNotice, Icon } from '../ui/bits.js';
import { navigate, useRoute } from '../ui/router.js';
import { signedOutNotice } from '../ui/signed-out.js';
import { ChannelView } from './ChannelView.js';
import { ConnectionIndicator } from './ConnectionIndicator.js';
import { startNotifier } from './notifier.js';
import { NotifyPrompt } from './NotifyPrompt.js';
import { Sidebar } from './Sidebar.js';

export function Shell({
  me,
  deviceId,
  land,
  onSignedOut,
}: {
  me: User;
  deviceId: string;
  /** A new account: open its first channel (the default one the server put it in). */
  land?: boolean;
  onSignedOut: (notice?: string) => void;
}) {
  const [store, setStore] = useState<ChatStore | null>(null);

  // The store is made inside the effect, so each mount (StrictMode mounts twice) owns one
  // connection and disposes exactly that one.
  useEffect(() => {
    const store = new ChatStore(me, deviceId);
    setStore(store);
    const route = new URL(location.href).pathname;
    const m = /^\/c\/([^/]+)/.exec(route);
    if (m) store.activeId = decodeURIComponent(m[1]);
    void store.start();
    const stopNotifier = startNotifier(store);
    const off = store.rt.on('status', (s) => {
      if (s.stopped === 'signed_out') onSignedOut(signedOutNotice(s.closeReason));
      else if (s.stopped === 'session_ended') onSignedOut('Your session ended. Sign in again.');
    });
    // Back online, or back to the tab after a while: the server may well answer again, so a
    // long backoff wait is cut short.
    const online = () => store.rt.wake();
    const visible = () => {
      if (document.visibilityState !== 'visible') return store.flushDrafts();
      store.maybeMarkRead();
      store.rt.wake();
    };
    // Unsent messages are kept for the next page, but one that never comes back (a closed tab)
    // would leave them unsent: ask first. Only while there are some, so leaving is otherwise free.
    const beforeUnload = (e: BeforeUnloadEvent) => {
      if (!store.hasUnsent()) return;
      e.preventDefault();
      e.returnValue = true; // browsers before preventDefault() was enough (Chrome < 119)
    };
    const pageHide = () => store.flushDrafts();
    // Coming back to the window is when the open conversation gets read.
    const focus = () => store.maybeMarkRead();
    window.addEventListener('focus', focus);
    window.addEventListener('online', online);
    window.addEventListener('beforeunload', beforeUnload);
    window.addEventListener('pagehide', pageHide);
    document.addEventListener('visibilitychange', visible);
    return () => {
      off();
      stopNotifier();
      window.removeEventListener('online', online);
      window.removeEventListener('beforeunload', beforeUnload);
      window.removeEventListener('pagehide', pageHide);
      window.removeEventListener('focus', focus);
      document.removeEventListener('visibilitychange', visible);
      document.title = 'Relay';
      store.dispose();
    };
  }, [me, deviceId, onSignedOut]);

  if (!store) return null;
  return (
    <StoreContext.Provider value={store}>
      <Layout onSignedOut={onSignedOut} land={land} />
    </StoreContext.Provider>
  );
}

function Layout({ onSignedOut, land }: { onSignedOut: (notice?: string) => void; land?: boolean }) {
  const store = useStore();
  const route = useRoute();
  useSearchShortcut(store, route);

  // A new account lands in the public channel it was put in (DEFAULT_CHANNEL), once.
  const landed = useRef(!land);
  useEffect(() => {
    if (landed.current || !store.channelsLoaded) return;
    landed.current = true;
    const first = [...store.channels.values()].find((c) => c.kind === 'public' && store.isMember(c));
    if (first && route.name === 'home') navigate({ name: 'channel', id: first.id }, { replace: true });
  }, [store, store.channelsLoaded, route]);

  useEffect(() => {
    const id = route.name === 'channel' ? route.id : null;
    if (store.activeId !== id) store.select(id);
  }, [route, store]);

  useEffect(() => {
    if (route.name === 'channel' && store.channelsLoaded && !store.channels.has(route.id)) navigate({ name: 'home' }, { replace: true });
  }, [route, store, store.channelsLoaded, store.version]);

  const unread = store.totalUnread();
  useEffect(() => {
    document.title = unread ? `(${unread}) Relay` : 'Relay';
  }, [unread]);

  const pane = route.name === 'home' ? 'list' : 'detail';
  let main;
  if (route.name === 'channel' && store.channels.has(route.id)) main = <ChannelView key={route.id} channelId={route.id} />;
  else if (route.name === 'search') main = <SearchView />;
  else if (route.name === 'profile') main = <ProfileView />;
  else if (route.name === 'devices') main = <DevicesView onSignedOut={onSignedOut} />;
  else if (route.name === 'admin' && store.me.role === 'admin') main = <AdminView />;
  else main = <Welcome />;

  return (
    <div className="app" data-pane={pane}>
      <Sidebar onSignedOut={onSignedOut} route={route} />
      <main className="main" id="main">
        <ConnectionIndicator banner />
        <NotifyPrompt />
        {main}
      </main>
    </div>
  );
}

function Welcome() {
  const store = useStore();
  return (
    <section className="empty-state" aria-labelledby="welcome-title">
      <div className="empty-illustration" aria-hidden="true">
        <Icon name="message" size={40} />
      </div>
      <h1 id="welcome-title">Welcome, {store.me.displayName || store.me.username}</h1>
      <p className="muted">Pick a conversation on the left, start a direct message, or create a channel for your team.</p>
      <ErrorNotice message={store.loadError} />
    </section>
  );
}
