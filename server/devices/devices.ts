/**
 * Devices and their revocation.
 *
 * Guarantees: revocation is one transaction that marks the device rows and writes an audit row
 * per device; only after it commits is the revocation published on the bus, so every instance
 * closes the device's sockets (4403); a missed bus event is caught by the gateway's sweep, and a
 * revoked device's tokens and session are refused by the database check in any case.
 */
import { and, desc, eq, inArray, isNull, ne, sql } from 'drizzle-orm';
import type { Device } from '../../shared/api.js';
import type { RevocationReason } from '../../shared/codes.js';
import { recordAudit } from '../admin/audit.js';
import { TOPICS, type ControlEvent } from '../bus/bus.js';
import type { AppContext } from '../context.js';
import { describeError } from '../logger.js';
import type { Db } from '../db/client.js';
import { devices } from '../db/schema.js';

export type DeviceRow = typeof devices.$inferSelect;

export function presentDevice(d: DeviceRow, opts: { currentDeviceId?: string; online: Set<string> }): Device {
  return {
    id: d.id,
    name: d.name,
    userAgent: d.userAgent,
    ip: d.ip,
    createdAt: d.createdAt.toISOString(),
    lastSeenAt: d.lastSeenAt.toISOString(),
    revokedAt: d.revokedAt ? d.revokedAt.toISOString() : null,
    current: d.id === opts.currentDeviceId,
    online: !d.revokedAt && opts.online.has(d.id),
    bound: d.keyThumbprint !== null,
    signedInWith: d.signedInWith,
  };
}

/** A readable device name from a User-Agent when the client gave none (ua-parser-js: naming.ts). */
export { deviceNameFrom } from './naming.js';

export async function listDevices(ctx: Pick<AppContext, 'db' | 'presence'>, userId: string, currentDeviceId?: string): Promise<Device[]> {
  const rows = await ctx.db.select().from(devices).where(eq(devices.userId, userId)).orderBy(desc(devices.lastSeenAt));
  const online = await ctx.presence.onlineDevices(rows.filter((r) => !r.revokedAt).map((r) => r.id));
  return rows.map((r) => presentDevice(r, { currentDeviceId, online }));
}

export interface Actor {
  id: string | null;
  ip: string | null;
}

/** One device, or every device of a user (but `exceptDeviceId`: the one asking, e.g. a password change). */
export type DeviceMatch = { deviceId: string } | { userId: string; exceptDeviceId?: string };

/**
 * Revokes the matching active devices inside `tx` and writes one audit row each. Returns the
 * revoked rows; call `announceRevocation` after the transaction commits.
 */
export async function revokeDevicesIn(
  tx: Pick<Db, 'update' | 'insert'>,
  match: DeviceMatch,
  reason: RevocationReason,
  actor: Actor,
): Promise<DeviceRow[]> {
  const target =
    'deviceId' in match
      ? eq(devices.id, match.deviceId)
      : and(eq(devices.userId, match.userId), match.exceptDeviceId ? ne(devices.id, match.exceptDeviceId) : undefined);
  const revoked = await tx
    .update(devices)
    .set({ revokedAt: sql`now()`, revokedReason: reason })
    .where(and(target, isNull(devices.revokedAt)))
    .returning();
  await recordAudit(
    tx,
    revoked.map((d) => ({
      actorId: actor.id,
      action: 'device.revoke',
      targetType: 'device' as const,
      targetId: d.id,
      ip: actor.ip,
      details: { reason, userId: d.userId },
    })),
  );
  return revoked;
}

/** Tells every instance to close the sockets of these devices. Never throws: the sweep is the backstop. */
export async function announceRevocation(
  ctx: Pick<AppContext, 'bus' | 'log' | 'metrics'>,
  deviceIds: string[],
  reason: RevocationReason,
): Promise<void> {
  if (deviceIds.length === 0) return;
  ctx.metrics.revocations.inc({ reason }, deviceIds.length);
  const event: ControlEvent = { kind: 'revoke_devices', deviceIds, reason };
  await ctx.bus.publish(TOPICS.control, JSON.stringify(event)).catch((err: Error) => {
    ctx.log.error({ err: describeError(err), count: deviceIds.length }, 'revocation not published; the sweep will close the sockets');
  });
}

/** Revokes one device or all of a user's, then announces it. Returns the rows revoked now. */
export async function revokeDevices(
  ctx: Pick<AppContext, 'db' | 'bus' | 'log' | 'metrics'>,
  match: { deviceId: string } | { userId: string },
  reason: RevocationReason,
  actor: Actor,
): Promise<DeviceRow[]> {
  const revoked = await ctx.db.transaction((tx) => revokeDevicesIn(tx, match, reason, actor));
  await announceRevocation(
    ctx,
    revoked.map((d) => d.id),
    reason,
  );
  return revoked;
}

export async function findDevice(db: Db, deviceId: string): Promise<DeviceRow | undefined> {
  if (!isUuid(deviceId)) return undefined;
  const rows = await db.select().from(devices).where(eq(devices.id, deviceId)).limit(1);
  return rows[0];
}

export async function findDevicesByIds(db: Db, ids: string[]): Promise<DeviceRow[]> {
  if (ids.length === 0) return [];
  return db.select().from(devices).where(inArray(devices.id, ids));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids in URLs are checked before they reach a uuid column, so a malformed one is a 404, not a 500. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
