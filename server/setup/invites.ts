/**
 * Invite codes: single-use, expiring, made by an admin; they let a person register while
 * registration is closed.
 *
 * Guarantees: only the SHA-256 of a code is stored (a database leak reveals no usable code);
 * a code is consumed in the transaction that creates the account, by an UPDATE that matches
 * only an unused, unexpired row, so two registrations racing on one code cannot both succeed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { recordAudit } from '../admin/audit.js';
import type { Db } from '../db/client.js';
import { invites } from '../db/schema.js';
import type { Actor } from '../devices/devices.js';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export const INVITE_TTL_MS = 7 * 24 * 3600_000;

const hashCode = (code: string) => createHash('sha256').update(code).digest('base64url');

export async function createInvite(db: Db, actor: Actor): Promise<{ code: string; expiresAt: string }> {
  const code = randomBytes(18).toString('base64url');
  const expiresAt = new Date(Date.now() + INVITE_TTL_MS);
  await db.transaction(async (tx) => {
    const [row] = await tx.insert(invites).values({ codeHash: hashCode(code), createdBy: actor.id, expiresAt }).returning({ id: invites.id });
    await recordAudit(tx, { actorId: actor.id, action: 'invite.create', targetType: 'invite', targetId: row.id, ip: actor.ip });
  });
  return { code, expiresAt: expiresAt.toISOString() };
}

const usable = (code: string) => and(eq(invites.codeHash, hashCode(code)), isNull(invites.usedAt), gt(invites.expiresAt, sql`now()`));

/** True while the code is unused and unexpired (a check before signing in; consumeInvite decides). */
export async function inviteIsUsable(db: Db, code: string): Promise<boolean> {
  const rows = await db.select({ id: invites.id }).from(invites).where(usable(code)).limit(1);
  return rows.length > 0;
}

/** Marks the code used by `userId` inside `tx`; false when it was used or expired meanwhile. */
export async function consumeInvite(tx: Tx, code: string, userId: string, ip: string | null): Promise<boolean> {
  const used = await tx
    .update(invites)
    .set({ usedAt: sql`now()`, usedBy: userId })
    .where(usable(code))
    .returning({ id: invites.id });
  if (used.length === 0) return false;
  await recordAudit(tx, { actorId: userId, action: 'invite.use', targetType: 'invite', targetId: used[0].id, ip });
  return true;
}
