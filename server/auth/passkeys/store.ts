/**
 * Passkey rows: list, add, rename, remove, and the counter step of a sign-in.
 *
 * Guarantees: a user only ever reads or changes their own passkeys (every query names the
 * user); a credential id is registered once (unique index); the signature counter only moves
 * forward, checked and written in one UPDATE, so of two sign-ins racing with one assertion (or an
 * assertion from a cloned authenticator) at most one moves it.
 */
import { and, asc, count, eq, lt, sql } from 'drizzle-orm';
import type { AuthenticatorTransportFuture } from '@simplewebauthn/server';
import type { Passkey } from '../../../shared/api.js';
import { recordAudit } from '../../admin/audit.js';
import type { Db } from '../../db/client.js';
import { passkeys } from '../../db/schema.js';
import { isUuid } from '../../devices/devices.js';
import { isUniqueViolation } from '../../users/users.js';

export type PasskeyRow = typeof passkeys.$inferSelect;

/** How many passkeys one account may hold. */
export const MAX_PASSKEYS_PER_USER = 50;

export interface Actor {
  id: string;
  ip: string | null;
}

export function presentPasskey(p: PasskeyRow): Passkey {
  return {
    id: p.id,
    name: p.name,
    createdAt: p.createdAt.toISOString(),
    lastUsedAt: p.lastUsedAt ? p.lastUsedAt.toISOString() : null,
  };
}

export async function listPasskeys(db: Db, userId: string): Promise<PasskeyRow[]> {
  return db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt), asc(passkeys.id));
}

export async function countPasskeys(db: Db, userId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, userId));
  return row.n;
}

export async function findPasskeyByCredentialId(db: Db, credentialId: string): Promise<PasskeyRow | undefined> {
  const rows = await db.select().from(passkeys).where(eq(passkeys.credentialId, credentialId)).limit(1);
  return rows[0];
}

/** Stores a verified credential and audits it; null when this credential is registered already. */
export async function addPasskey(
  db: Db,
  actor: Actor,
  input: {
    credentialId: string;
    publicKey: Uint8Array<ArrayBuffer>;
    counter: number;
    transports: AuthenticatorTransportFuture[];
    deviceType: 'singleDevice' | 'multiDevice';
    backedUp: boolean;
    name: string;
    /** The signed-in device that registered it. */
    registeredByDeviceId: string;
  },
): Promise<PasskeyRow | null> {
  try {
    return await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(passkeys)
        .values({ userId: actor.id, ...input })
        .returning();
      await recordAudit(tx, { actorId: actor.id, action: 'passkey.register', targetType: 'passkey', targetId: row.id, ip: actor.ip, details: { name: row.name } });
      return row;
    });
  } catch (err) {
    if (isUniqueViolation(err)) return null;
    throw err;
  }
}

/** Renames one of the actor's passkeys; undefined when they hold none with this id. */
export async function renamePasskey(db: Db, actor: Actor, id: string, name: string): Promise<PasskeyRow | undefined> {
  if (!isUuid(id)) return undefined;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(passkeys)
      .set({ name })
      .where(and(eq(passkeys.id, id), eq(passkeys.userId, actor.id)))
      .returning();
    if (row) await recordAudit(tx, { actorId: actor.id, action: 'passkey.rename', targetType: 'passkey', targetId: row.id, ip: actor.ip, details: { name } });
    return row;
  });
}

/** Removes one of the actor's passkeys and audits it; false when they hold none with this id. */
export async function removePasskey(db: Db, actor: Actor, id: string): Promise<boolean> {
  if (!isUuid(id)) return false;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .delete(passkeys)
      .where(and(eq(passkeys.id, id), eq(passkeys.userId, actor.id)))
      .returning();
    if (!row) return false;
    await recordAudit(tx, { actorId: actor.id, action: 'passkey.delete', targetType: 'passkey', targetId: row.id, ip: actor.ip, details: { name: row.name } });
    return true;
  });
}

/**
 * Removes, inside `tx`, the user's passkeys that a recovery must not leave behind: every one not
 * registered from `keepRegisteredBy` (the device changing its password), or all of them (an
 * administrator's "sign out all devices"). That includes passkeys whose registering device was
 * already signed out: an intruder who added one and then logged out (or signed in with it) must
 * not keep it through the owner's password change. One audit row each (`passkey.delete`, with
 * the reason). Returns the removed rows.
 */
export async function removePasskeysIn(
  tx: Pick<Db, 'delete' | 'insert'>,
  match: { userId: string; keepRegisteredBy?: string },
  reason: 'password_changed' | 'revoked_by_admin',
  actor: { id: string | null; ip: string | null },
): Promise<PasskeyRow[]> {
  const removed = await tx
    .delete(passkeys)
    .where(
      and(
        eq(passkeys.userId, match.userId),
        match.keepRegisteredBy ? sql`${passkeys.registeredByDeviceId} IS DISTINCT FROM ${match.keepRegisteredBy}` : undefined,
      ),
    )
    .returning();
  await recordAudit(
    tx,
    removed.map((row) => ({
      actorId: actor.id,
      action: 'passkey.delete',
      targetType: 'passkey' as const,
      targetId: row.id,
      ip: actor.ip,
      details: { name: row.name, reason, userId: row.userId, registeredByDeviceId: row.registeredByDeviceId },
    })),
  );
  return removed;
}

/**
 * Records a verified sign-in: the new counter and the time. Refused (false) unless the counter
 * moves forward, or stays 0 for an authenticator that keeps no counter (as WebAuthn allows).
 */
export async function recordPasskeyUse(
  db: Db,
  id: string,
  use: { counter: number; backedUp: boolean; deviceType: 'singleDevice' | 'multiDevice' },
): Promise<boolean> {
  const rows = await db
    .update(passkeys)
    .set({ counter: use.counter, backedUp: use.backedUp, deviceType: use.deviceType, lastUsedAt: sql`now()` })
    .where(and(eq(passkeys.id, id), use.counter === 0 ? eq(passkeys.counter, 0) : lt(passkeys.counter, use.counter)))
    .returning({ id: passkeys.id });
  return rows.length === 1;
}
