/**
 * The HTTP session (express-session): in Redis through connect-redis when REDIS_URL is set,
 * otherwise in Postgres through connect-pg-simple on a pool of its own, so a restart logs nobody out
 * in either mode.
 *
 * Guarantees: the cookie is HttpOnly, SameSite=Lax, Path=/, Secure behind TLS (req.secure, which
 * honours TRUST_PROXY); anonymous requests get no cookie and no stored session; sessions expire
 * after SESSION_IDLE_TIMEOUT without use and SESSION_MAX_AGE after login whatever the use; a
 * store failure, or a store that does not answer within STORE_TIMEOUT_MS, is a 503, never an
 * anonymous or stale session and never a hung request.
 */
import type { RequestHandler } from 'express';
import session from 'express-session';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import type { Config } from '../config.js';
import { createPool } from '../db/client.js';
import { serviceUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
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

/**
 * Connections of the Postgres session store's own pool. Session queries are single short
 * statements (load, touch, save, destroy), so a few connections serve every request.
 */
export const SESSION_POOL_MAX = 5;

export interface SessionStore {
  store: session.Store;
  /** Ends the store's timers (connect-pg-simple prunes on an interval) and its own pool. */
  close(): Promise<void>;
}

/**
 * Without Redis the store gets a pool of its own, never the main one. signIn saves the session
 * while its transaction holds a main-pool connection (so a failed save rolls the rows back, see
 * auth/login.ts); from one shared pool, a burst of sign-ins could hold every connection while
 * each waited for one more, and every query (the gateway's too) would stall until a timeout.
 * With two pools there is no cycle: session queries never wait on the main pool.
 */
export function createSessionStore(opts: { redis?: RedisClient; databaseUrl: string; log: Logger }): SessionStore {
  if (opts.redis) {
    return { store: touchAtMostEvery(new RedisStore({ client: opts.redis, prefix: 'relay:sess:' }), TOUCH_INTERVAL_MS), close: async () => {} };
  }
  const pool = createPool(opts.databaseUrl, opts.log, SESSION_POOL_MAX, 'sessions');
  const PgStore = connectPgSimple(session);
  const store = touchAtMostEvery(
    new PgStore({
      pool,
      tableName: 'session',
      createTableIfMissing: false,
      pruneSessionInterval: 15 * 60,
      errorLog: () => {},
    }),
    TOUCH_INTERVAL_MS,
  );
  return {
    store,
    close: async () => {
      store.close();
      await pool.end();
    },
  };
}

/**
 * How often one instance writes a session's new expiry. express-session touches the store on
 * every request; against an idle timeout of days, once a minute is as good, and it takes a
 * write off every token request of a reconnect storm.
 */
const TOUCH_INTERVAL_MS = 60_000;
const TOUCHED_MAX = 100_000;

/** Makes `store.touch` write at most once per `intervalMs` per session on this instance. */
function touchAtMostEvery<S extends session.Store>(store: S, intervalMs: number): S {
  const touch = store.touch?.bind(store);
  if (!touch) return store;
  /** Session id → when this instance last wrote its expiry; kept in time order (oldest first). */
  const touched = new Map<string, number>();
  store.touch = (sid, sess, cb) => {
    const now = Date.now();
    for (const [id, at] of touched) {
      if (now - at < intervalMs && touched.size < TOUCHED_MAX) break;
      touched.delete(id);
    }
    if (touched.has(sid)) return cb?.();
    touched.set(sid, now);
    touch(sid, sess, ((err?: unknown) => {
      if (err) touched.delete(sid); // not written: the next request tries again
      (cb as ((err?: unknown) => void) | undefined)?.(err);
    }) as () => void);
  };
  return store;
}

/**
 * How long a request waits on the session store. A Redis that stops answering without closing
 * its connection (paused, partitioned) would otherwise hang every request that carries a cookie.
 */
export const STORE_TIMEOUT_MS = 2_000;

/**
 * Runs one callback-style store operation; rejects with a 503 on its error or when it has not
 * answered within STORE_TIMEOUT_MS.
 * @example await storeCall((cb) => req.session.save(cb));
 */
export function storeCall(op: (cb: (err?: unknown) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(serviceUnavailable()), STORE_TIMEOUT_MS);
    op((err) => {
      clearTimeout(timer);
      if (err) reject(serviceUnavailable());
      else resolve();
    });
  });
}

export function sessionMiddleware(config: Config, store: session.Store): RequestHandler {
  const mw = session({
    name: SESSION_COOKIE,
    secret: config.sessionSecrets,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    // 'keep', not 'destroy': on a store error or timeout req.session is never loaded, and 'destroy'
    // would then delete the caller's stored session (and wait on the failing store to do it).
    unset: 'keep',
    cookie: { httpOnly: true, sameSite: 'lax', path: '/', secure: 'auto', maxAge: config.sessionIdleMs },
  });
  return (req, res, next) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      next(serviceUnavailable());
    }, STORE_TIMEOUT_MS);
    mw(req, res, (err?: unknown) => {
      if (settled) return; // already answered 503; a late store reply changes nothing
      settled = true;
      clearTimeout(timer);
      if (err) next(serviceUnavailable());
      else next();
    });
  };
}
