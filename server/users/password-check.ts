/**
 * Checking a signed-in user's current password (a password change, adding a passkey): a password
 * guess like a login, so it is throttled like one, per address and per account, with ONE set of
 * limiters per app: guesses at /api/me/password and at passkey options count together, so a
 * stolen session cannot double its budget by spreading them.
 */
import type { RequestHandler } from 'express';
import type { AppContext } from '../context.js';
import { authLimiters } from '../http/rate-limit.js';

const limitsOf = new WeakMap<object, RequestHandler[]>();

/** The limiters of every current-password check of this app (made once per context). */
export function currentPasswordLimits(ctx: Pick<AppContext, 'config' | 'redis'>): RequestHandler[] {
  let limits = limitsOf.get(ctx);
  if (!limits) {
    limits = authLimiters({
      name: 'password-change',
      windowMs: ctx.config.rateLimits.windowMs,
      perIp: ctx.config.rateLimits.loginPerIp,
      perUsername: ctx.config.rateLimits.loginPerUsername,
      perUsernameGlobal: ctx.config.rateLimits.loginPerUsernameGlobal,
      redis: ctx.redis,
    });
    limitsOf.set(ctx, limits);
  }
  return limits;
}
