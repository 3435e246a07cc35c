/** The audit log: one row for every admin action and every revocation, listed with the names behind its ids. */
import { desc, eq, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Db } from '../db/client.js';
import { auditEvents, channels, devices, messages, users } from '../db/schema.js';
import type { AuditEvent } from '../../shared/api.js';

type Executor = Pick<Db, 'insert'>;

export interface AuditEntry {
  actorId: string | null;
  action: string;
  targetType: 'user' | 'device' | 'channel' | 'setting' | 'invite' | 'passkey' | 'message';
  targetId: string | null;
  ip: string | null;
  details?: Record<string, unknown>;
}

export async function recordAudit(db: Executor, entries: AuditEntry | AuditEntry[]): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries];
  if (list.length === 0) return;
  await db.insert(auditEvents).values(list.map((e) => ({ ...e, details: e.details ?? null })));
}

/** A text id that a uuid column can take; anything else is cast to nothing (CASE), never an error. */
const UUID_TEXT = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const asUuid = (type: string) =>
  sql`CASE WHEN ${auditEvents.targetType} = ${type} AND ${auditEvents.targetId} ~ ${UUID_TEXT} THEN ${auditEvents.targetId}::uuid END`;

const actor = alias(users, 'actor');
const targetUser = alias(users, 'target_user');

/**
 * The newest events, with the names behind their ids read in the same query (left joins on
 * primary keys: one round trip whatever the page size). `targetUser` is whom the event concerns:
 * the user itself, a device's owner, a message's sender. Names of deleted rows are null.
 */
export async function listAudit(db: Db, limit: number): Promise<AuditEvent[]> {
  const rows = await db
    .select({
      event: auditEvents,
      actorUsername: actor.username,
      actorDisplayName: actor.displayName,
      deviceName: devices.name,
      channelName: channels.name,
      userId: targetUser.id,
      username: targetUser.username,
      displayName: targetUser.displayName,
    })
    .from(auditEvents)
    .leftJoin(actor, eq(actor.id, auditEvents.actorId))
    .leftJoin(devices, eq(devices.id, asUuid('device')))
    .leftJoin(channels, eq(channels.id, asUuid('channel')))
    .leftJoin(
      messages,
      eq(messages.id, sql`CASE WHEN ${auditEvents.targetType} = 'message' AND ${auditEvents.targetId} ~ '^[0-9]{1,18}$' THEN ${auditEvents.targetId}::bigint END`),
    )
    .leftJoin(targetUser, eq(targetUser.id, sql`COALESCE(${devices.userId}, ${messages.senderId}, ${asUuid('user')})`))
    .orderBy(desc(auditEvents.id))
    .limit(limit);
  return rows.map(({ event: r, ...names }) => ({
    id: String(r.id),
    at: r.at.toISOString(),
    actorId: r.actorId,
    action: r.action,
    targetType: r.targetType,
    targetId: r.targetId,
    ip: r.ip,
    actor: names.actorUsername !== null ? { username: names.actorUsername, displayName: names.actorDisplayName ?? names.actorUsername } : null,
    targetName: names.deviceName ?? names.channelName ?? (r.targetType === 'user' ? names.displayName : null),
    targetUser: names.userId !== null ? { id: names.userId, username: names.username!, displayName: names.displayName! } : null,
  }));
}
