/** /api/me (v2): the signed-in user's own profile (profile.ts). */
import { Router } from 'express';
import { changePasswordBody, updateMeBody } from '../../shared/api.js';
import type { AppContext } from '../context.js';
import { endpoint, limitedSession } from '../http/endpoint.js';
import { userLimiter } from '../http/rate-limit.js';
import { currentPasswordLimits } from './password-check.js';
import { changePassword, updateDisplayName } from './profile.js';

export function meRoutes(ctx: AppContext): Router {
  const router = Router();

  // A rename is announced to every channel of the user (user_updated): one budget per user.
  const renames = userLimiter({ name: 'rename', windowMs: ctx.config.rateLimits.windowMs, limit: ctx.config.rateLimits.renames, redis: ctx.redis });
  router.patch(
    '/',
    limitedSession(ctx, renames),
    endpoint(ctx, { access: 'session', body: updateMeBody }, async ({ req, auth, body }) => ({
      user: await updateDisplayName(ctx, auth.user.id, body.displayName, { id: auth.user.id, ip: req.ip ?? null }),
    })),
  );

  // Checking the current password is a password guess like a login: the same limits, counted
  // per address and per account (a stolen session must not brute-force the password), shared
  // with the check that guards adding a passkey (password-check.ts). The session is checked
  // first (limitedSession): a request it refuses, e.g. a copied cookie jar's without the
  // device's proof, counts per address only, so copies cannot lock the owner out.
  const limits = currentPasswordLimits(ctx);
  router.post(
    '/password',
    limitedSession(ctx, ...limits),
    endpoint(ctx, { access: 'session', body: changePasswordBody }, async ({ req, auth, body }) => {
      return changePassword(ctx, {
        user: auth.user,
        deviceId: auth.device.id,
        currentPassword: body.currentPassword,
        newPassword: body.newPassword,
        ip: req.ip ?? null,
      });
    }),
  );
  return router;
}
