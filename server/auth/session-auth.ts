/**
 * Who is calling, from the session cookie.
 *
 * Guarantees: the user's role and state and the device's state are read from the database on
 * every request (never from the token or the session); a session whose device is revoked, whose
 * user is disabled, or that is past SESSION_MAX_AGE is destroyed and the request is 401.
 * A bound device's request must also carry a DPoP proof of its key (POP8, session-proof.ts):
 * without one it is 401 `invalid_proof` and the session stays, so a copied cookie jar is useless
 * and cannot sign its rightful holder out either, nor keep it alive: a refused request does not
 * push the session's idle expiry (no store touch, no renewed cookie).
 */
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Request } from 'express';
import type { AppContext } from '../context.js';
import { devices, users } from '../db/schema.js';
import { unauthenticated } from '../errors.js';
import { storeCall } from '../http/session.js';

export type UserRow = typeof users.$inferSelect;
export type DeviceRow = typeof devices.$inferSelect;

export interface SessionAuth {
  user: UserRow;
  device: DeviceRow;
}

declare module 'express-serve-static-core' {
  interface Request {
    auth?: SessionAuth;
  }
}

const TOUCH_INTERVAL_SECONDS = 60;

/** Ends the session; never throws and never waits on a stalled store longer than STORE_TIMEOUT_MS. */
export async function destroySession(req: Request): Promise<void> {
  if (!req.session) return;
  await storeCall((cb) => req.session.destroy(cb)).catch(() => {});
}

/**
 * A refused request must not extend the session it could not prove (rolling: express-session
 * would otherwise touch the store's expiry and send a fresh cookie on every response). Without
 * `req.session`, and with `unset: 'keep'` (http/session.ts), express-session neither saves,
 * touches nor sets the cookie, and the stored session stays as it was for its rightful holder.
 */
function forgetForThisRequest(req: Request): void {
  (req as { session?: unknown }).session = undefined;
}

/**
 * The caller of a session-authenticated request: the one check every such route goes through
 * (http/endpoint.ts), POP8's proof included. Throws 401 (or 503 when proofs cannot be checked).
 */
export async function authenticateSession(req: Request, ctx: Pick<AppContext, 'db' | 'config' | 'proofs'>): Promise<SessionAuth> {
  const { db } = ctx;
  const maxAgeMs = ctx.config.sessionMaxAgeMs;
  const s = req.session;
  if (!s?.userId || !s.deviceId) throw unauthenticated();
  if (!s.createdAt || Date.now() - s.createdAt > maxAgeMs) {
    await destroySession(req);
    throw unauthenticated('Session expired; sign in again');
  }
  const rows = await db
    .select({ user: users, device: devices })
    .from(devices)
    .innerJoin(users, eq(users.id, devices.userId))
    .where(and(eq(devices.id, s.deviceId), eq(devices.userId, s.userId)))
    .limit(1);
  const row = rows[0];
  if (!row || row.device.revokedAt || row.user.disabled) {
    await destroySession(req);
    throw unauthenticated(row?.user.disabled ? 'This account is disabled' : 'This device was signed out');
  }
  // POP8: after the checks above (a revoked device's session ends whoever asks), before anything
  // is written: a request without the device's proof leaves no trace, not even last_seen_at.
  try {
    await ctx.proofs.require(req, row.device);
  } catch (err) {
    forgetForThisRequest(req);
    throw err;
  }
  // last_seen_at is refreshed at most once a minute per device; the write never delays the reply.
  if (Date.now() - row.device.lastSeenAt.getTime() > TOUCH_INTERVAL_SECONDS * 1000) {
    db.update(devices)
      .set({ lastSeenAt: sql`now()` })
      .where(and(eq(devices.id, row.device.id), lt(devices.lastSeenAt, sql`now() - interval '${sql.raw(String(TOUCH_INTERVAL_SECONDS))} seconds'`)))
      .catch(() => {});
  }
  return row;
}
