/**
 * Rate limits: login and register per IP and per username, and per-user limits on writes to
 * shared state (express-rate-limit, in Redis when REDIS_URL is set so every instance counts
 * together). A limited request gets 429 rate_limited
 * with Retry-After; a store failure is a 503, never an unlimited pass.
 *
 * Guarantee: a stranger cannot lock a user out. Failures for a username are counted per
 * (username, address): they throttle the address they come from (the right password from it
 * too), not the user signing in from elsewhere. Only a much higher per-username ceiling, which
 * needs failures from many addresses, refuses every address. A malformed body (400) checked no
 * password and counts for nothing but the per-address limit.
 */
import type { Request, RequestHandler, Response } from 'express';
import { rateLimit, ipKeyGenerator, type Store } from 'express-rate-limit';
import { RedisStore } from 'rate-limit-redis';
import { rateLimited, serviceUnavailable, type RateLimitScope } from '../errors.js';
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

function usernameOf(req: Request): string {
  const body = req.body as { username?: unknown; response?: { id?: unknown } } | undefined;
  const raw = body?.username;
  if (typeof raw === 'string') return raw.trim().toLowerCase().slice(0, 64);
  // A passkey sign-in names no username: its credential id stands in for one (auth/passkeys/).
  const credential = body?.response && typeof body.response === 'object' ? body.response.id : undefined;
  if (typeof credential === 'string') return `passkey:${credential.slice(0, 256)}`;
  // A signed-in password check (POST /api/me/password) names no username: count it per account,
  // the account the session proved (req.auth, set by limitedSession), never a refused request's.
  return req.auth ? `id:${req.auth.user.id}` : '';
}

const addressKey = (req: Request) => ipKeyGenerator(req.ip ?? '');

/** A failed attempt on a username: anything refused except a malformed body, which checked no password. */
const checkedNoPassword = (_req: Request, res: Response) => res.statusCode < 400 || res.statusCode === 400;

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
  // The refusal names its limit's scope (RateLimit-Scope): a client then waits for that username only, or for all.
  const common = (scope: RateLimitScope) => ({
    windowMs: opts.windowMs,
    standardHeaders: 'draft-7' as const,
    legacyHeaders: false,
    handler: (req: Request, _res: unknown, next: (err: unknown) => void) => {
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime?.getTime() ?? Date.now() + opts.windowMs;
      opts.onLimited?.();
      next(rateLimited(Math.max(1, Math.ceil((reset - Date.now()) / 1000)), scope));
    },
  });
  return { store, common };
}

const failClosed =
  (mw: RequestHandler): RequestHandler =>
  (req, res, next) =>
    mw(req, res, (err?: unknown) => (err ? next(err instanceof Error && 'status' in err ? err : serviceUnavailable()) : next()));

export function authLimiters(
  opts: LimiterOptions & { perIp: number; perUsername: number; perUsernameGlobal: number },
): RequestHandler[] {
  const { store, common } = limiterParts(opts);
  const perIp = rateLimit({
    ...common('address'),
    limit: opts.perIp,
    store: store('ip'),
    keyGenerator: (req) => `ip:${addressKey(req)}`,
  });
  // Only failures count per username, so a user who logs in often is never locked out by success.
  // No username (a malformed login, a password change the session check refused): per address only.
  // No RateLimit headers from these: their remaining count would tell anyone how many failures a
  // username has had (from every address, for the global one). A 429 still says Retry-After and
  // RateLimit-Scope; the headers a response carries are the per-address limit's, the caller's own.
  const failures = {
    ...common('username'),
    standardHeaders: false as const,
    skipSuccessfulRequests: true,
    requestWasSuccessful: checkedNoPassword,
    skip: (req: Request) => usernameOf(req) === '',
  };
  const perUsernameAndAddress = rateLimit({
    ...failures,
    limit: opts.perUsername,
    store: store('user-ip'),
    keyGenerator: (req) => `ua:${addressKey(req)}:${usernameOf(req)}`,
  });
  // Runs after the per-address limit, so an address it refuses adds nothing here: reaching the
  // ceiling takes failures from perUsernameGlobal / perUsername addresses at least.
  const perUsername = rateLimit({
    ...failures,
    limit: opts.perUsernameGlobal,
    store: store('user'),
    keyGenerator: (req) => `u:${usernameOf(req)}`,
  });
  return [failClosed(perIp), failClosed(perUsernameAndAddress), failClosed(perUsername)];
}

/**
 * A per-user limit on a kind of write, so one account cannot flood shared state, e.g. thousands
 * of public channels in everyone's list. Keyed by the user the session proved (`req.auth`: mount
 * it through endpoint.ts's `limitedSession`, which authenticates first), else by the address: a
 * request refused by authentication never spends the user's budget.
 */
export function userLimiter(opts: LimiterOptions & { limit: number }): RequestHandler {
  const { store, common } = limiterParts(opts);
  return failClosed(
    rateLimit({
      ...common('user'),
      limit: opts.limit,
      store: store('user'),
      keyGenerator: (req) => (req.auth ? `user:${req.auth.user.id}` : `ip:${addressKey(req)}`),
    }),
  );
}
