/** The audit log: one row for every admin action and every revocation. */
import { desc } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { auditEvents } from '../db/schema.js';
import type { AuditEvent } from '../../shared/api.js';

type Executor = Pick<Db, 'insert'>;

export interface AuditEntry {
  actorId: string | null;
  action: string;
  targetType: 'user' | 'device' | 'channel' | 'setting' | 'invite' | 'passkey';
  targetId: string | null;
  ip: string | null;
  details?: Record<string, unknown>;
}

export async function recordAudit(db: Executor, entries: AuditEntry | AuditEntry[]): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries];
  if (list.length === 0) return;
  await db.insert(auditEvents).values(list.map((e) => ({ ...e, details: e.details ?? null })));
}

export async function listAudit(db: Db, limit: number): Promise<AuditEvent[]> {
  const rows = await db.select().from(auditEvents).orderBy(desc(auditEvents.id)).limit(limit);
  return rows.map((r) => ({
    id: String(r.id),
    at: r.at.toISOString(),
    actorId: r.actorId,
    action: r.action,
    targetType: r.targetType,
    targetId: r.targetId,
    ip: r.ip,
  }));
}
