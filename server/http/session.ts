/**
 * The HTTP session (express-session): in Redis through connect-redis when REDIS_URL is set,
 * otherwise in Postgres through connect-pg-simple, so a restart logs nobody out in either mode.
 *
 * Guarantees: the cookie is HttpOnly, SameSite=Lax, Path=/, Secure behind TLS (req.secure, which
 * honours TRUST_PROXY); anonymous requests get no cookie and no stored session; sessions expire
 * after SESSION_IDLE_TIMEOUT without use and SESSION_MAX_AGE after login whatever the use; a
 * store failure is a 503, never an anonymous or stale session.
 */
import type { RequestHandler } from 'express';
import session from 'express-session';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import type pg from 'pg';
import type { Config } from '../config.js';
import { serviceUnavailable } from '../errors.js';
import type { RedisClient } from '../redis.js';

export const SESSION_COOKIE = 'relay.sid';

declare module 'express-session' {
  interface SessionData {
    userId: string;
    deviceId: string;
    /** Epoch ms of login: the absolute lifetime counts from here. */
    createdAt: number;
  }
}

export function createSessionStore(opts: { redis?: RedisClient; pool: pg.Pool; idleMs: number }): session.Store {
  if (opts.redis) return new RedisStore({ client: opts.redis, prefix: 'relay:sess:' });
  const PgStore = connectPgSimple(session);
  return new PgStore({
    pool: opts.pool,
    tableName: 'session',
    createTableIfMissing: false,
    pruneSessionInterval: 15 * 60,
    errorLog: () => {},
  });
}

/** Ends the store's timers (connect-pg-simple prunes on an interval). */
export function closeSessionStore(store: session.Store): void {
  const closable = store as session.Store & { close?: () => void };
  closable.close?.();
}

export function sessionMiddleware(config: Config, store: session.Store): RequestHandler {
  const mw = session({
    name: SESSION_COOKIE,
    secret: config.sessionSecrets,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    unset: 'destroy',
    cookie: { httpOnly: true, sameSite: 'lax', path: '/', secure: 'auto', maxAge: config.sessionIdleMs },
  });
  return (req, res, next) => mw(req, res, (err?: unknown) => (err ? next(serviceUnavailable()) : next()));
}
