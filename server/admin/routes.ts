/**
 * /api/admin: user and device administration. Every route requires a session whose user is an
 * admin according to the database at the time of the request; every action writes an audit row.
 */
import { Router, type Request } from 'express';
import { asc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { auditQuery, registrationBody, role } from '../../shared/api.js';
import { removePasskeysIn } from '../auth/passkeys/store.js';
import type { AppContext } from '../context.js';
import type { Db } from '../db/client.js';
import { users } from '../db/schema.js';
import { invalidRequest, notFound } from '../errors.js';
import { endpoint } from '../http/endpoint.js';
import { announceRevocation, findDevice, listDevices, presentDevice, revokeDevices, revokeDevicesIn } from '../devices/devices.js';
import { findUser, presentUser, type UserRow } from '../users/users.js';
import { listAudit, recordAudit } from './audit.js';
import { createInvite } from '../setup/invites.js';
import { setRegistrationMode } from '../setup/settings.js';

const roleBody = z.strictObject({ role });

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * Refuses a change that would leave no active admin. The active admins' rows are locked, so two
 * admins disabling or demoting each other at once are decided one after the other: the second
 * sees the first's change and is refused, instead of both succeeding and locking everyone out.
 */
async function keepAnAdmin(tx: Tx, targetId: string): Promise<void> {
  const { rows } = await tx.execute<{ id: string }>(
    sql`SELECT id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE`,
  );
  if (rows.some((r) => r.id === targetId) && rows.length <= 1) {
    throw invalidRequest('id: this is the last active administrator; make someone else an admin first');
  }
}

export function adminRoutes(ctx: AppContext): Router {
  const router = Router();
  const actor = (req: Request, id: string) => ({ id, ip: req.ip ?? null });
  const loadUser = async (id: string): Promise<UserRow> => {
    const u = await findUser(ctx.db, id);
    if (!u) throw notFound('User');
    return u;
  };

  router.get(
    '/users',
    endpoint(ctx, { access: 'admin' }, async () => {
      const rows = await ctx.db.select().from(users).orderBy(asc(users.username));
      const online = await ctx.presence.onlineUsers(rows.map((r) => r.id));
      return {
        users: rows.map((u) => ({
          ...presentUser(u),
          disabled: u.disabled,
          createdAt: u.createdAt.toISOString(),
          online: online.has(u.id),
        })),
      };
    }),
  );

  router.get(
    '/users/:id/devices',
    endpoint(ctx, { access: 'admin' }, async ({ req, auth }) => {
      const u = await loadUser(String(req.params.id));
      return { devices: await listDevices(ctx, u.id, auth.device.id) };
    }),
  );

  router.post(
    '/devices/:id/revoke',
    endpoint(ctx, { access: 'admin' }, async ({ req, auth }) => {
      const device = await findDevice(ctx.db, String(req.params.id));
      if (!device) throw notFound('Device');
      const [revoked] = await revokeDevices(ctx, { deviceId: device.id }, 'revoked_by_admin', actor(req, auth.user.id));
      return { device: presentDevice(revoked ?? device, { currentDeviceId: auth.device.id, online: new Set() }) };
    }),
  );

  router.post(
    '/users/:id/revoke-devices',
    endpoint(ctx, { access: 'admin' }, async ({ req, auth }) => {
      const u = await loadUser(String(req.params.id));
      // The admin action is audited even when no device was active (then no device.revoke row exists).
      // The user's passkeys go with them (an intruder's must not outlive the sign-out).
      const revoked = await ctx.db.transaction(async (tx) => {
        const r = await revokeDevicesIn(tx, { userId: u.id }, 'revoked_by_admin', actor(req, auth.user.id));
        await removePasskeysIn(tx, { userId: u.id }, 'revoked_by_admin', actor(req, auth.user.id));
        await recordAudit(tx, {
          actorId: auth.user.id,
          action: 'user.revoke_devices',
          targetType: 'user',
          targetId: u.id,
          ip: req.ip ?? null,
          details: { revoked: r.length },
        });
        return r;
      });
      await announceRevocation(
        ctx,
        revoked.map((d) => d.id),
        'revoked_by_admin',
      );
      return { revoked: revoked.length };
    }),
  );

  router.post(
    '/users/:id/disable',
    endpoint(ctx, { access: 'admin' }, async ({ req, auth }) => {
      const target = await loadUser(String(req.params.id));
      if (target.id === auth.user.id) throw invalidRequest('id: you cannot disable your own account');
      const { user, revoked } = await ctx.db.transaction(async (tx) => {
        await keepAnAdmin(tx, target.id);
        const [u] = await tx.update(users).set({ disabled: true }).where(eq(users.id, target.id)).returning();
        await recordAudit(tx, { actorId: auth.user.id, action: 'user.disable', targetType: 'user', targetId: u.id, ip: req.ip ?? null });
        const r = await revokeDevicesIn(tx, { userId: u.id }, 'account_disabled', actor(req, auth.user.id));
        return { user: u, revoked: r };
      });
      await announceRevocation(
        ctx,
        revoked.map((d) => d.id),
        'account_disabled',
      );
      return { user: presentUser(user) };
    }),
  );

  router.post(
    '/users/:id/enable',
    endpoint(ctx, { access: 'admin' }, async ({ req, auth }) => {
      const target = await loadUser(String(req.params.id));
      const user = await ctx.db.transaction(async (tx) => {
        const [u] = await tx.update(users).set({ disabled: false }).where(eq(users.id, target.id)).returning();
        await recordAudit(tx, { actorId: auth.user.id, action: 'user.enable', targetType: 'user', targetId: u.id, ip: req.ip ?? null });
        return u;
      });
      return { user: presentUser(user) };
    }),
  );

  // Added to the contract: change a user's role (the UI's promote/demote). Takes effect at once,
  // because every request reads the role from the database.
  router.post(
    '/users/:id/role',
    endpoint(ctx, { access: 'admin', body: roleBody }, async ({ req, auth, body }) => {
      const target = await loadUser(String(req.params.id));
      if (target.id === auth.user.id && body.role !== 'admin') throw invalidRequest('role: you cannot demote yourself');
      const user = await ctx.db.transaction(async (tx) => {
        if (body.role !== 'admin') await keepAnAdmin(tx, target.id);
        const [u] = await tx.update(users).set({ role: body.role }).where(eq(users.id, target.id)).returning();
        await recordAudit(tx, {
          actorId: auth.user.id,
          action: 'user.role',
          targetType: 'user',
          targetId: u.id,
          ip: req.ip ?? null,
          details: { from: target.role, to: body.role },
        });
        return u;
      });
      return { user: presentUser(user) };
    }),
  );

  router.get(
    '/audit',
    endpoint(ctx, { access: 'admin', query: auditQuery }, async ({ query }) => ({ events: await listAudit(ctx.db, query.limit) })),
  );

  // v2, first run: registration open or closed at run time, and single-use invites (setup/).
  router.post(
    '/registration',
    endpoint(ctx, { access: 'admin', body: registrationBody }, async ({ req, auth, body }) => {
      await setRegistrationMode(ctx.db, body.mode, actor(req, auth.user.id));
      return { mode: body.mode };
    }),
  );

  router.post(
    '/invites',
    endpoint(ctx, { access: 'admin', status: 201 }, async ({ req, auth }) => ({ invite: await createInvite(ctx.db, actor(req, auth.user.id)) })),
  );

  return router;
}

