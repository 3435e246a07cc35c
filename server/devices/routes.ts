/** /api/devices: a user's own devices. */
import { Router } from 'express';
import type { AppContext } from '../context.js';
import { notFound } from '../errors.js';
import { endpoint } from '../http/endpoint.js';
import { destroySession } from '../auth/session-auth.js';
import { findDevice, listDevices, presentDevice, revokeDevices } from './devices.js';

export function deviceRoutes(ctx: AppContext): Router {
  const router = Router();

  router.get(
    '/',
    endpoint(ctx, { access: 'session' }, async ({ auth }) => ({ devices: await listDevices(ctx, auth.user.id, auth.device.id) })),
  );

  router.post(
    '/:id/revoke',
    endpoint(ctx, { access: 'session' }, async ({ req, auth }) => {
      const device = await findDevice(ctx.db, String(req.params.id));
      // Someone else's device is indistinguishable from a missing one.
      if (!device || device.userId !== auth.user.id) throw notFound('Device');
      const [revoked] = await revokeDevices(ctx, { deviceId: device.id }, 'device_revoked', { id: auth.user.id, ip: req.ip ?? null });
      if (device.id === auth.device.id) await destroySession(req);
      return { device: presentDevice(revoked ?? device, { currentDeviceId: auth.device.id, online: new Set() }) };
    }),
  );

  return router;
}

