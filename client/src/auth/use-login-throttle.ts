/**
 * The sign-in form's waits after a 429, scoped as the server scoped them (its RateLimit-Scope
 * header): failures for one username throttle that username only (typing another one may sign
 * in at once), while the per-address limit (`address`) holds back every username from here.
 * An answer that names no scope holds back the username it was for; should the address be the
 * one throttled, the next username's answer says so. Waits are kept per tab (sign in, register).
 */
import { useCallback, useEffect, useState } from 'react';
import { ApiError } from '../api/http.js';

const EVERYONE = '*';
const keyOf = (mode: string, username: string) => `${mode}:${username.trim().toLowerCase()}`;

export interface Wait {
  seconds: number;
  /** `address`: every username from here waits; `username`: this one only. */
  scope: 'address' | 'username';
}

export interface LoginThrottle {
  /** How long `username` must wait before trying again on this tab, or null when it may now. */
  waitFor(mode: string, username: string): Wait | null;
  /** Takes a refusal into account; true when it was a rate limit (its wait is now told by waitFor). */
  record(mode: string, username: string, err: unknown): boolean;
}

export function useLoginThrottle(): LoginThrottle {
  /** key (`mode:username`, or `mode:*` for everyone) → the time the wait ends (epoch ms). */
  const [until, setUntil] = useState<ReadonlyMap<string, number>>(new Map());
  const [now, setNow] = useState(() => Date.now());

  // A tick each second while some wait runs, so the countdown moves and ends by itself.
  useEffect(() => {
    if (until.size === 0) return;
    const t = setInterval(() => {
      const at = Date.now();
      setNow(at);
      setUntil((m) => {
        const left = [...m].filter(([, end]) => end > at);
        return left.length === m.size ? m : new Map(left);
      });
    }, 1000);
    return () => clearInterval(t);
  }, [until.size]);

  const waitFor = useCallback(
    (mode: string, username: string): Wait | null => {
      const all = until.get(`${mode}:${EVERYONE}`) ?? 0;
      const one = until.get(keyOf(mode, username)) ?? 0;
      const end = Math.max(all, one);
      if (end <= now) return null;
      return { seconds: Math.ceil((end - now) / 1000), scope: all >= one ? 'address' : 'username' };
    },
    [until, now],
  );

  const record = useCallback((mode: string, username: string, err: unknown) => {
    if (!(err instanceof ApiError && err.code === 'rate_limited')) return false;
    const at = Date.now();
    const key = err.scope === 'address' ? `${mode}:${EVERYONE}` : keyOf(mode, username);
    setNow(at);
    setUntil((m) => new Map(m).set(key, at + (err.retryAfter ?? 60) * 1000));
    return true;
  }, []);

  return { waitFor, record };
}
