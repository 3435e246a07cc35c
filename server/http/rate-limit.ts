/**
 * Rate limits: login and register per IP and per username, and per-user limits on writes to
 * shared state (express-rate-limit, in Redis when REDIS_URL is set so every instance counts
 * together). A limited request gets 429 rate_limited
 * with Retry-After; a store failure is a 503, never an unlimited pass.
 */
import type { Request, RequestHandler } from 'express';
import { rateLimit, ipKeyGenerator, type Store } from 'express-rate-limit';
import { RedisStore } from 'rate-limit-redis';
import { rateLimited, serviceUnavailable } from '../errors.js';
import type { RedisClient } from '../redis.js';

/** A Redis that stops answering without closing the connection must give a 503, not a hung login. */
const STORE_TIMEOUT_MS = 2_000;
function withDeadline<T>(work: Promise<T>): Promise<T> {
  work.catch(() => {}); // a late failure after the deadline is nobody's business
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('rate-limit store timed out')), STORE_TIMEOUT_MS);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function usernameKey(req: Request): string {
  const raw = (req.body as { username?: unknown } | undefined)?.username;
  return `u:${typeof raw === 'string' ? raw.trim().toLowerCase().slice(0, 64) : ''}`;
}

interface LimiterOptions {
  name: string;
  windowMs: number;
  redis?: RedisClient;
  /** Called for every request refused with 429 (metrics: a brute force shows up as refusals). */
  onLimited?: () => void;
}

function limiterParts(opts: LimiterOptions) {
  const store = (prefix: string): Store | undefined =>
    opts.redis
      ? new RedisStore({
          prefix: `relay:rl:${opts.name}:${prefix}:`,
          sendCommand: (...args: string[]) => withDeadline(opts.redis!.sendCommand(args)),
        })
      : undefined;
  const common = {
    windowMs: opts.windowMs,
    standardHeaders: 'draft-7' as const,
    legacyHeaders: false,
    handler: (req: Request, _res: unknown, next: (err: unknown) => void) => {
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime?.getTime() ?? Date.now() + opts.windowMs;
      opts.onLimited?.();
      next(rateLimited(Math.max(1, Math.ceil((reset - Date.now()) / 1000))));
    },
  };
  return { store, common };
}

const failClosed =
  (mw: RequestHandler): RequestHandler =>
  (req, res, next) =>
    mw(req, res, (err?: unknown) => (err ? next(err instanceof Error && 'status' in err ? err : serviceUnavailable()) : next()));

export function authLimiters(opts: LimiterOptions & { perIp: number; perUsername: number }): RequestHandler[] {
  const { store, common } = limiterParts(opts);
  const perIp = rateLimit({
    ...common,
    limit: opts.perIp,
    store: store('ip'),
    keyGenerator: (req) => `ip:${ipKeyGenerator(req.ip ?? '')}`,
  });
  // Only failures count per username, so a user who logs in often is never locked out by success.
  const perUsername = rateLimit({
    ...common,
    limit: opts.perUsername,
    store: store('user'),
    skipSuccessfulRequests: true,
    keyGenerator: usernameKey,
  });
  return [failClosed(perIp), failClosed(perUsername)];
}

/**
 * A per-user limit on a kind of write (keyed by the session's user, or the address without one),
 * so one account cannot flood shared state, e.g. thousands of public channels in everyone's list.
 */
export function userLimiter(opts: LimiterOptions & { limit: number }): RequestHandler {
  const { store, common } = limiterParts(opts);
  return failClosed(
    rateLimit({
      ...common,
      limit: opts.limit,
      store: store('user'),
      keyGenerator: (req) => (req.session?.userId ? `user:${req.session.userId}` : `ip:${ipKeyGenerator(req.ip ?? '')}`),
    }),
  );
}
