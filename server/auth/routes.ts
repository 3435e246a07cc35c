/** /api/auth: register, login (passport-local), logout, me, token. */
import { Router, type Request, type Response } from 'express';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { loginBody, registerBody } from '../../shared/api.js';
import type { AppContext } from '../context.js';
import { accountDisabled, invalidCredentials, registrationClosed, usernameTaken } from '../errors.js';
import { endpoint } from '../http/endpoint.js';
import { authLimiters } from '../http/rate-limit.js';
import { SESSION_COOKIE } from '../http/session.js';
import { announceRevocation, presentDevice, revokeDevicesIn } from '../devices/devices.js';
import { findUserByUsername, insertUser, presentUser, type UserRow } from '../users/users.js';
import { FINGERPRINT_COOKIE } from './fingerprint.js';
import { checkPassword, hashPassword } from './passwords.js';
import { deviceKeyOf, signIn } from './login.js';
import { passkeyRoutes } from './passkeys/routes.js';
import { destroySession } from './session-auth.js';
import { invalidProof } from './session-proof.js';
import { joinDefaultChannel } from '../setup/default-channel.js';
import { consumeInvite, inviteIsUsable } from '../setup/invites.js';
import { registrationMode } from '../setup/settings.js';

type Verdict = { user: UserRow } | { failure: 'invalid_credentials' | 'account_disabled' };

/** passport-local checks credentials only; sessions are handled by signIn (see login.ts). */
function localStrategy(ctx: AppContext): passport.Strategy {
  return new LocalStrategy({ session: false }, (username, password, done) => {
    (async (): Promise<Verdict> => {
      const user = await findUserByUsername(ctx.db, username);
      // Unknown users are checked against a dummy hash: same cost, same answer.
      const ok = await checkPassword(user?.passwordHash, password);
      if (!user || !ok) return { failure: 'invalid_credentials' };
      if (user.disabled) return { failure: 'account_disabled' };
      return { user };
    })().then(
      (v) => ('user' in v ? done(null, v.user) : done(null, false, { message: v.failure })),
      (err) => done(err),
    );
  });
}

/**
 * Checks the credentials in req.body with the strategy registered as 'local' on `authenticator`.
 *
 * Never pass a Strategy object to authenticate(): passport uses an object as is and assigns this
 * request's success/fail/error callbacks on it, so with one object shared by every request the
 * last login to arrive receives the verdict of every login in flight (issue 8: a wrong password
 * got another user's session and token). Given a name, passport makes a fresh
 * Object.create(strategy) per request, which carries that request's callbacks only.
 */
function authenticateLocal(authenticator: passport.Authenticator, req: Request, res: Response): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    authenticator.authenticate('local', { session: false }, (err: unknown, user: UserRow | false, info?: { message?: string }) => {
      if (err) return reject(err);
      if (user) return resolve({ user });
      resolve({ failure: info?.message === 'account_disabled' ? 'account_disabled' : 'invalid_credentials' });
    })(req, res, () => {});
  });
}

export function authRoutes(ctx: AppContext): Router {
  const router = Router();
  // A private Passport per app, not the global singleton: the strategy closes over this ctx (its
  // database), and a second app in the same process (tests run several) registering 'local' on
  // the singleton would make this app check passwords against the other app's users.
  const authenticator = new passport.Passport();
  authenticator.use('local', localStrategy(ctx));
  const limits = (name: string) =>
    authLimiters({
      name,
      windowMs: ctx.config.rateLimits.windowMs,
      perIp: ctx.config.rateLimits.loginPerIp,
      perUsername: ctx.config.rateLimits.loginPerUsername,
      perUsernameGlobal: ctx.config.rateLimits.loginPerUsernameGlobal,
      redis: ctx.redis,
      // A login refused by the limiter is an outcome too; without it an attack is invisible in /metrics.
      onLimited: name === 'login' ? () => ctx.metrics.logins.inc({ outcome: 'rate_limited' }) : undefined,
    });

  router.post(
    '/register',
    ...limits('register'),
    endpoint(ctx, { access: 'public', body: registerBody, status: 201 }, async ({ req, res, body }) => {
      // Closed registration still admits a person holding an unused invite (setup/invites.ts).
      const closed = (await registrationMode(ctx)) === 'closed';
      const invite = closed ? body.invite : undefined;
      if (closed && !(invite && (await inviteIsUsable(ctx.db, invite)))) throw registrationClosed();
      // signIn regenerates the caller's session before the insert; a name known to be taken must
      // fail first, so a 409 does not sign the caller out (insertUser still catches the race).
      const deviceKey = await deviceKeyOf(ctx, body.deviceKey);
      if (await findUserByUsername(ctx.db, body.username)) throw usernameTaken();
      const passwordHash = await hashPassword(body.password); // before the transaction: see insertUser
      const result = await signIn(ctx, req, res, {
        deviceKey,
        writeUser: async (tx) => {
          const user = await insertUser(tx, { username: body.username, passwordHash, displayName: body.displayName });
          // Consumed with the account: two people racing on one code cannot both get in.
          if (invite && !(await consumeInvite(tx, invite, user.id, req.ip ?? null))) throw registrationClosed();
          if (ctx.config.defaultChannel) await joinDefaultChannel(tx, ctx.config.defaultChannel, user.id);
          return user;
        },
      });
      ctx.log.info({ userId: result.user.id, role: result.user.role }, 'user registered');
      return result;
    }),
  );

  // One set of login limiters for passwords and passkeys: an address has one budget of sign-in attempts.
  const loginLimits = limits('login');
  router.post(
    '/login',
    ...loginLimits,
    endpoint(ctx, { access: 'public', body: loginBody }, async ({ req, res, body }) => {
      const deviceKey = await deviceKeyOf(ctx, body.deviceKey);
      req.body = body; // passport-local reads the normalised username
      const verdict = await authenticateLocal(authenticator, req, res);
      if ('failure' in verdict) {
        ctx.metrics.logins.inc({ outcome: verdict.failure });
        throw verdict.failure === 'account_disabled' ? accountDisabled() : invalidCredentials();
      }
      const result = await signIn(ctx, req, res, { deviceName: body.deviceName, deviceKey, writeUser: async () => verdict.user });
      ctx.metrics.logins.inc({ outcome: 'success' });
      return result;
    }),
  );

  // (v2) /passkeys (a signed-in user's passkeys) and /passkey (signing in with one).
  router.use(passkeyRoutes(ctx, { loginLimits }));

  // POP8: a bound device's logout needs its proof like any session request. Not a formality: a
  // copied cookie jar carries the same session id as the original, so a logout from the copy
  // would revoke the device and sign its rightful holder out.
  router.post(
    '/logout',
    endpoint(ctx, { access: 'session' }, async ({ req, res, auth }) => {
      const revoked = await ctx.db.transaction((tx) =>
        revokeDevicesIn(tx, { deviceId: auth.device.id }, 'logged_out', { id: auth.user.id, ip: req.ip ?? null }),
      );
      await destroySession(req);
      res.clearCookie(SESSION_COOKIE, { path: '/' });
      res.clearCookie(FINGERPRINT_COOKIE, { path: '/' });
      await announceRevocation(
        ctx,
        revoked.map((d) => d.id),
        'logged_out',
      );
    }),
  );

  router.get(
    '/me',
    endpoint(ctx, { access: 'session' }, async ({ auth }) => {
      const online = await ctx.presence.onlineDevices([auth.device.id]);
      return { user: presentUser(auth.user), device: presentDevice(auth.device, { currentDeviceId: auth.device.id, online }) };
    }),
  );

  router.post(
    '/token',
    endpoint(ctx, { access: 'session' }, async ({ auth }) => {
      // POP6: a bound device's DPoP proof (htm POST, htu this endpoint) was verified, once, by the
      // session check every session route goes through (POP8, session-proof.ts).
      const jkt = auth.device.keyThumbprint;
      if (!jkt && ctx.config.deviceBinding === 'required') throw invalidProof('This device holds no key; sign in again with one');
      const { token, expiresAt } = ctx.tokens.issue({
        userId: auth.user.id,
        deviceId: auth.device.id,
        fingerprintHash: auth.device.fingerprintHash,
        keyThumbprint: jkt,
      });
      ctx.metrics.tokensIssued.inc();
      return { token, expiresAt: expiresAt.toISOString() };
    }),
  );

  return router;
}
