/** A tiny path router: /, /c/:channelId, /search, /profile, /devices, /admin. The server answers every path with the app. */
import { useEffect, useState } from 'react';

export type Route =
  | { name: 'home' }
  | { name: 'channel'; id: string }
  | { name: 'search' }
  | { name: 'profile' }
  | { name: 'devices' }
  | { name: 'admin' };

export function parseRoute(path: string): Route {
  const m = /^\/c\/([^/]+)\/?$/.exec(path);
  if (m) return { name: 'channel', id: decodeURIComponent(m[1]) };
  if (path === '/search') return { name: 'search' };
  if (path === '/profile') return { name: 'profile' };
  if (path === '/devices') return { name: 'devices' };
  if (path === '/admin') return { name: 'admin' };
  return { name: 'home' };
}

export function routePath(r: Route): string {
  switch (r.name) {
    case 'channel':
      return `/c/${encodeURIComponent(r.id)}`;
    case 'search':
      return '/search';
    case 'profile':
      return '/profile';
    case 'devices':
      return '/devices';
    case 'admin':
      return '/admin';
    default:
      return '/';
  }
}

const listeners = new Set<() => void>();

export function navigate(r: Route, opts: { replace?: boolean } = {}): void {
  const path = routePath(r);
  if (path !== location.pathname) history[opts.replace ? 'replaceState' : 'pushState'](null, '', path);
  for (const fn of listeners) fn();
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname));
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}
