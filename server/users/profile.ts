/**
 * A user's own profile: display name and password (CONTRACT `PATCH /api/me`, `POST /api/me/password`).
 *
 * Guarantees: a password change checks the current password with one argon2 verify and hashes
 * the new one before any transaction (argon2 must not hold a pooled connection); the new hash,
 * the revocation of every other device of the user (reason `password_changed`) and the audit
 * rows commit together, so no other device stays signed in with the old password's session;
 * the passkeys those devices registered are removed in the same transaction (audited
 * `passkey.delete`, reason `password_changed`), so a passkey an intruder added from a session
 * does not outlive it (the ones this device added stay);
 * the revocation is announced on the bus only after the commit (sockets close 4403). The
 * device that asked stays signed in.
 */
import { eq } from 'drizzle-orm';
import type { User } from '../../shared/api.js';
import type { ServerFrame } from '../../shared/protocol.js';
import { recordAudit } from '../admin/audit.js';
import { removePasskeysIn } from '../auth/passkeys/store.js';
import { checkPassword, hashPassword } from '../auth/passwords.js';
import { TOPICS } from '../bus/bus.js';
import { encodeEnvelope } from '../bus/channel-envelope.js';
import type { AppContext } from '../context.js';
import { channelMembers, users } from '../db/schema.js';
import { announceRevocation, revokeDevicesIn, type Actor } from '../devices/devices.js';
import { invalidCredentials } from '../errors.js';
import { presentUser, type UserRow } from './users.js';

type Ctx = Pick<AppContext, 'db' | 'bus' | 'log' | 'metrics'>;

/**
 * Renames the user and tells the subscribers of each of their channels (`user_updated` on the
 * channel's topic, envelope kind 'c': every subscribed socket gets it, the user's own included).
 */
export async function updateDisplayName(ctx: Ctx, userId: string, displayName: string, actor: Actor): Promise<User> {
  const user = await ctx.db.transaction(async (tx) => {
    const [row] = await tx.update(users).set({ displayName }).where(eq(users.id, userId)).returning();
    await recordAudit(tx, { actorId: actor.id, action: 'user.display_name', targetType: 'user', targetId: userId, ip: actor.ip });
    return presentUser(row);
  });
  const channelIds = await ctx.db
    .select({ id: channelMembers.channelId })
    .from(channelMembers)
    .where(eq(channelMembers.userId, userId));
  const payload = encodeEnvelope('c', '', '', JSON.stringify({ type: 'user_updated', user } satisfies ServerFrame));
  await Promise.all(
    channelIds.map(({ id }) =>
      ctx.bus.publish(TOPICS.channel(id), payload).catch((err: Error) => ctx.log.warn({ err: err.message }, 'user_updated not published')),
    ),
  );
  return user;
}

/**
 * Changes the password when `currentPassword` is right (else invalid_credentials), revoking
 * every other device of the user and removing every passkey not registered from this device
 * (also those of devices signed out earlier: see removePasskeysIn). Returns how many devices
 * were revoked and how many passkeys removed.
 */
export async function changePassword(
  ctx: Ctx,
  input: { user: UserRow; deviceId: string; currentPassword: string; newPassword: string; ip: string | null },
): Promise<{ revoked: number; passkeysRemoved: number }> {
  if (!(await checkPassword(input.user.passwordHash, input.currentPassword))) throw invalidCredentials();
  const passwordHash = await hashPassword(input.newPassword);
  const actor = { id: input.user.id, ip: input.ip };
  const changed = await ctx.db.transaction(async (tx) => {
    await tx.update(users).set({ passwordHash }).where(eq(users.id, input.user.id));
    await recordAudit(tx, { actorId: actor.id, action: 'user.password_change', targetType: 'user', targetId: input.user.id, ip: actor.ip });
    const devices = await revokeDevicesIn(tx, { userId: input.user.id, exceptDeviceId: input.deviceId }, 'password_changed', actor);
    const passkeys = await removePasskeysIn(tx, { userId: input.user.id, keepRegisteredBy: input.deviceId }, 'password_changed', actor);
    if (passkeys.length) ctx.log.info({ userId: input.user.id, passkeys: passkeys.length }, 'passkeys not registered from this device removed');
    return { devices, passkeys: passkeys.length };
  });
  await announceRevocation(
    ctx,
    changed.devices.map((d) => d.id),
    'password_changed',
  );
  return { revoked: changed.devices.length, passkeysRemoved: changed.passkeys };
}
