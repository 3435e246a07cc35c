/**
 * Who is calling, from the session cookie.
 *
 * Guarantees: the user's role and state and the device's state are read from the database on
 * every request (never from the token or the session); a session whose device is revoked, whose
 * user is disabled, or that is past SESSION_MAX_AGE is destroyed and the request is 401.
 */
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Request } from 'express';
import type { Db } from '../db/client.js';
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

export async function authenticateSession(req: Request, db: Db, maxAgeMs: number): Promise<SessionAuth> {
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
  // last_seen_at is refreshed at most once a minute per device; the write never delays the reply.
  if (Date.now() - row.device.lastSeenAt.getTime() > TOUCH_INTERVAL_SECONDS * 1000) {
    db.update(devices)
      .set({ lastSeenAt: sql`now()` })
      .where(and(eq(devices.id, row.device.id), lt(devices.lastSeenAt, sql`now() - interval '${sql.raw(String(TOUCH_INTERVAL_SECONDS))} seconds'`)))
      .catch(() => {});
  }
  return row;
}
