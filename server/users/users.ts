/** Users: creation (first account is an admin), lookup and presentation. */
import { and, asc, eq, ilike, inArray, or, sql } from 'drizzle-orm';
import type { User } from '../../shared/api.js';
import type { Db } from '../db/client.js';
import { users } from '../db/schema.js';
import { usernameTaken } from '../errors.js';
import { isUuid } from '../devices/devices.js';

export type UserRow = typeof users.$inferSelect;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

const FIRST_USER_LOCK = 727_002;

export function presentUser(u: UserRow): User {
  return { id: u.id, username: u.username, displayName: u.displayName, role: u.role };
}

/**
 * The role of a user about to be inserted in `tx`: the first account on an empty database is
 * an admin. Users are never deleted, so once one exists every later answer is 'user' and needs
 * no lock; only on an empty table does an advisory lock (held until commit) make two first
 * registrations queue, the second then seeing the first's committed row (READ COMMITTED takes a
 * new snapshot per statement).
 */
async function roleForNewUser(tx: Tx): Promise<'user' | 'admin'> {
  const anyUser = async () =>
    (await tx.execute<{ present: boolean }>(sql`SELECT EXISTS (SELECT 1 FROM ${users}) AS present`)).rows[0].present;
  if (await anyUser()) return 'user';
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${FIRST_USER_LOCK})`);
  return (await anyUser()) ? 'user' : 'admin';
}

/**
 * Inserts a user inside `tx`; hash the password with hashPassword first, outside any
 * transaction (argon2 takes tens of milliseconds and must not hold a pooled connection).
 * Throws username_taken on a duplicate.
 * @example
 * const passwordHash = await hashPassword(password);
 * await db.transaction((tx) => insertUser(tx, { username, passwordHash }));
 */
export async function insertUser(
  tx: Tx,
  input: { username: string; passwordHash: string; displayName?: string; role?: 'user' | 'admin' },
): Promise<UserRow> {
  const role = input.role ?? (await roleForNewUser(tx));
  try {
    const [row] = await tx
      .insert(users)
      .values({ username: input.username, displayName: input.displayName ?? input.username, passwordHash: input.passwordHash, role })
      .returning();
    return row;
  } catch (err) {
    if (isUniqueViolation(err)) throw usernameTaken();
    throw err;
  }
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === '23505' || e?.cause?.code === '23505';
}

export async function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  const rows = await db.select().from(users).where(eq(users.username, username.toLowerCase())).limit(1);
  return rows[0];
}

export async function findUser(db: Db, id: string): Promise<UserRow | undefined> {
  if (!isUuid(id)) return undefined;
  const rows = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return rows[0];
}

/** Active users whose username or display name contains `q` (all active users without q), max 50. */
export async function searchUsers(db: Db, q: string | undefined): Promise<UserRow[]> {
  const pattern = q ? `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
  return db
    .select()
    .from(users)
    .where(
      and(eq(users.disabled, false), pattern ? or(ilike(users.username, pattern), ilike(users.displayName, pattern)) : undefined),
    )
    .orderBy(asc(users.username))
    .limit(50);
}

/** Users by id (disabled ones included: their names still label old messages). */
export async function findUsersByIds(db: Db, ids: string[]): Promise<UserRow[]> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return [];
  return db.select().from(users).where(inArray(users.id, valid)).orderBy(asc(users.username));
}
