/**
 * Run-time settings (the `settings` table): what an administrator changes without a restart.
 * A key with no row takes its default from the environment, so REGISTRATION still decides a
 * fresh install's registration until an admin says otherwise.
 */
import { eq, sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import type { Db } from '../db/client.js';
import { invites, settings } from '../db/schema.js';
import { recordAudit } from '../admin/audit.js';
import type { Actor } from '../devices/devices.js';

export type RegistrationMode = 'open' | 'closed';

/** The stored registration mode, or the REGISTRATION default. */
export async function registrationMode(ctx: Pick<AppContext, 'db' | 'config'>): Promise<RegistrationMode> {
  const [row] = await ctx.db.select({ value: settings.value }).from(settings).where(eq(settings.key, 'registration')).limit(1);
  if (row?.value === 'open' || row?.value === 'closed') return row.value;
  return ctx.config.registrationOpen ? 'open' : 'closed';
}

/** Stores the mode and audits the change, in one transaction. */
export async function setRegistrationMode(db: Db, mode: RegistrationMode, actor: Actor): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .insert(settings)
      .values({ key: 'registration', value: mode, updatedBy: actor.id })
      .onConflictDoUpdate({ target: settings.key, set: { value: mode, updatedAt: sql`now()`, updatedBy: actor.id } });
    await recordAudit(tx, {
      actorId: actor.id,
      action: 'settings.registration',
      targetType: 'setting',
      targetId: 'registration',
      ip: actor.ip,
      details: { mode },
    });
  });
}

/**
 * What a sign-up screen shows (GET /api/setup): `open`; `invite` when registration is closed but
 * an unused invite is still valid (the screen asks for the code); else `closed`.
 */
export async function publicRegistration(ctx: Pick<AppContext, 'db' | 'config'>): Promise<'open' | 'closed' | 'invite'> {
  if ((await registrationMode(ctx)) === 'open') return 'open';
  const { rows } = await ctx.db.execute<{ any: boolean }>(
    sql`SELECT EXISTS (SELECT 1 FROM ${invites} WHERE used_at IS NULL AND expires_at > now()) AS any`,
  );
  return rows[0].any ? 'invite' : 'closed';
}
