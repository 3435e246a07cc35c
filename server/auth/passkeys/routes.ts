/**
 * (v2) Passkeys: /api/auth/passkeys (a signed-in user registers, lists, renames and removes their
 * passkeys) and /api/auth/passkey (signing in with one, no username needed).
 *
 * Guarantees:
 * - Adding a passkey needs the account's current password (options answer 401
 *   invalid_credentials without it, throttled with the password change's limiters), so a session
 *   alone (a copied cookie jar of an unbound device) cannot plant a key that outlives it. The
 *   passkey records the device that registered it: a password change or an administrator's "sign
 *   out all devices" removes the passkeys of the devices it signs out (store.ts).
 * - User verification is required in both ceremonies, and credentials are discoverable (resident
 *   keys), so a sign-in starts without a username. The origin and RP id are checked
 *   (relying-party.ts); attestation is not asked for.
 * - Every challenge is random, good once and for CHALLENGE_TTL_MS (challenges.ts). A registration
 *   challenge is bound to the signed-in device that asked for it; a sign-in challenge to a random
 *   id in a short-lived HttpOnly, SameSite=Strict cookie (`relay_passkey`, sent to
 *   /api/auth/passkey/* only) set by the options answer and cleared by the sign-in, so only the browser that asked can answer it. No
 *   challenge, id or assertion is ever put in a URL or a log.
 * - A sign-in counts only when the signature verifies against the stored key, the authenticator
 *   verified the user, any user handle names the passkey's owner, and the counter moves forward
 *   in one UPDATE (store.ts); then it is the password login's path from there on (login.ts
 *   signIn): the same limiters, device key rules, answer, cookies, device and token.
 */
import { randomBytes } from 'node:crypto';
import { Router, type Request, type RequestHandler } from 'express';
import { parse as parseCookies } from 'cookie';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { passkeyLoginBody, passkeyOptionsBody, registerPasskeyBody, renamePasskeyBody } from '../../../shared/api.js';
import type { AppContext } from '../../context.js';
import { deviceNameFrom } from '../../devices/devices.js';
import { accountDisabled, AppError, invalidRequest, notFound, serviceUnavailable } from '../../errors.js';
import { endpoint, limitedSession } from '../../http/endpoint.js';
import { userLimiter } from '../../http/rate-limit.js';
import { describeError } from '../../logger.js';
import { currentPasswordLimits } from '../../users/password-check.js';
import { findUser } from '../../users/users.js';
import { deviceKeyOf, signIn } from '../login.js';
import { checkPassword } from '../passwords.js';
import { CHALLENGE_TTL_MS, MemoryChallengeStore, RedisChallengeStore, type ChallengeStore } from './challenges.js';
import { relyingParty } from './relying-party.js';
import {
  addPasskey,
  countPasskeys,
  findPasskeyByCredentialId,
  listPasskeys,
  MAX_PASSKEYS_PER_USER,
  presentPasskey,
  recordPasskeyUse,
  removePasskey,
  renamePasskey,
} from './store.js';

/** The cookie naming a sign-in ceremony's challenge (a random id, never the challenge itself). */
export const PASSKEY_COOKIE = 'relay_passkey';
/** Where the browser sends it: the sign-in ceremony's routes, nowhere else. */
const PASSKEY_COOKIE_PATH = '/api/auth/passkey';
/** What the browser is told it has to answer in: under the challenge's lifetime. */
const CEREMONY_TIMEOUT_MS = CHALLENGE_TTL_MS - 30_000;

const invalidPasskey = (message: string) => new AppError('invalid_passkey', message);
/** A refused passkey sign-in: 401 invalid_credentials, like a wrong password, said for a passkey. */
const refused = (message = 'That passkey was not accepted. Try again, or sign in with your password.') =>
  new AppError('invalid_credentials', message);

/** The WebAuthn user handle of an account: its id's bytes (no name or address in it). */
const userHandle = (userId: string) => new TextEncoder().encode(userId);

export function passkeyRoutes(ctx: AppContext, opts: { loginLimits: RequestHandler[] }): Router {
  const router = Router();
  const challenges: ChallengeStore = ctx.redis ? new RedisChallengeStore(ctx.redis) : new MemoryChallengeStore(ctx.config.rateLimits.passkeyCeremonies);
  // Options cost a stored challenge each: per address (or user), as many as login attempts.
  const optionsLimit = userLimiter({
    name: 'passkey-options',
    windowMs: ctx.config.rateLimits.windowMs,
    limit: ctx.config.rateLimits.loginPerIp,
    redis: ctx.redis,
  });

  /** A store that cannot answer refuses (503): a challenge is never skipped. */
  const stored = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } catch (err) {
      ctx.log.warn({ err: describeError(err) }, 'passkey challenge store unavailable');
      throw serviceUnavailable('Passkeys cannot be used right now; try again shortly');
    }
  };
  /** Why a WebAuthn check failed, for the operator (an origin mismatch behind a proxy shows here). */
  const logRefusal = (req: Request, what: string, err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    // The library's challenge messages quote both challenges: spent, but kept out of logs all the same.
    const reason = /challenge/i.test(message) ? 'the challenge does not match' : message.slice(0, 300);
    ctx.log.info({ path: req.originalUrl.split('?')[0], reason }, `passkey ${what} refused`);
  };

  router.post(
    '/passkeys/options',
    limitedSession(ctx, optionsLimit, ...currentPasswordLimits(ctx)),
    endpoint(ctx, { access: 'session', body: passkeyOptionsBody }, async ({ req, auth, body }) => {
      const rp = relyingParty(ctx, req);
      // The password first: no challenge (and no passkey) for a session alone.
      if (!(await checkPassword(auth.user.passwordHash, body.password))) {
        throw new AppError('invalid_credentials', 'Wrong password: adding a passkey needs your current password');
      }
      const existing = await listPasskeys(ctx.db, auth.user.id);
      if (existing.length >= MAX_PASSKEYS_PER_USER) throw invalidRequest(`An account holds at most ${MAX_PASSKEYS_PER_USER} passkeys; remove one first`);
      const options = await generateRegistrationOptions({
        rpName: rp.rpName,
        rpID: rp.rpID,
        userName: auth.user.username,
        userDisplayName: auth.user.displayName,
        userID: userHandle(auth.user.id),
        timeout: CEREMONY_TIMEOUT_MS,
        attestationType: 'none',
        // The same authenticator is not registered twice.
        excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransportFuture[] })),
        authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      });
      await stored(challenges.put(`reg:${auth.device.id}`, options.challenge));
      return options;
    }),
  );

  router.post(
    '/passkeys',
    endpoint(ctx, { access: 'session', body: registerPasskeyBody, status: 201 }, async ({ req, body, auth }) => {
      const rp = relyingParty(ctx, req);
      const expected = await stored(challenges.take(`reg:${auth.device.id}`));
      if (!expected) throw invalidPasskey('No passkey registration is in progress on this device (or it expired); start again');
      let verification;
      try {
        verification = await verifyRegistrationResponse({
          response: body.response as RegistrationResponseJSON,
          expectedChallenge: expected,
          expectedOrigin: rp.origins,
          expectedRPID: rp.rpID,
          requireUserVerification: true,
        });
      } catch (err) {
        logRefusal(req, 'registration', err);
        throw invalidPasskey('The passkey could not be verified; try again');
      }
      if (!verification.verified) throw invalidPasskey('The passkey could not be verified; try again');
      if ((await countPasskeys(ctx.db, auth.user.id)) >= MAX_PASSKEYS_PER_USER) {
        throw invalidRequest(`An account holds at most ${MAX_PASSKEYS_PER_USER} passkeys; remove one first`);
      }
      const info = verification.registrationInfo;
      const row = await addPasskey(
        ctx.db,
        { id: auth.user.id, ip: req.ip ?? null },
        {
          credentialId: info.credential.id,
          publicKey: info.credential.publicKey,
          counter: info.credential.counter,
          transports: info.credential.transports ?? [],
          deviceType: info.credentialDeviceType,
          backedUp: info.credentialBackedUp,
          name: body.name ?? deviceNameFrom((req.get('user-agent') ?? '').slice(0, 400), { version: false }),
          registeredByDeviceId: auth.device.id,
        },
      );
      if (!row) throw invalidPasskey('This passkey is registered already');
      ctx.log.info({ userId: auth.user.id, passkeyId: row.id }, 'passkey registered');
      return { passkey: presentPasskey(row) };
    }),
  );

  router.get(
    '/passkeys',
    endpoint(ctx, { access: 'session' }, async ({ auth }) => ({ passkeys: (await listPasskeys(ctx.db, auth.user.id)).map(presentPasskey) })),
  );

  router.patch(
    '/passkeys/:id',
    endpoint(ctx, { access: 'session', body: renamePasskeyBody }, async ({ req, body, auth }) => {
      const row = await renamePasskey(ctx.db, { id: auth.user.id, ip: req.ip ?? null }, String(req.params.id), body.name);
      if (!row) throw notFound('Passkey');
      return { passkey: presentPasskey(row) };
    }),
  );

  router.delete(
    '/passkeys/:id',
    endpoint(ctx, { access: 'session' }, async ({ req, auth }) => {
      // Another user's passkey and a missing one get the same answer.
      if (!(await removePasskey(ctx.db, { id: auth.user.id, ip: req.ip ?? null }, String(req.params.id)))) throw notFound('Passkey');
      ctx.log.info({ userId: auth.user.id, passkeyId: req.params.id }, 'passkey removed');
    }),
  );

  router.post(
    '/passkey/options',
    optionsLimit,
    endpoint(ctx, { access: 'public' }, async ({ req, res }) => {
      const rp = relyingParty(ctx, req);
      // No allowCredentials: the authenticator offers the discoverable passkeys it holds for this RP.
      const options = await generateAuthenticationOptions({ rpID: rp.rpID, userVerification: 'required', timeout: CEREMONY_TIMEOUT_MS });
      const ceremony = randomBytes(32).toString('base64url');
      await stored(challenges.put(`login:${ceremony}`, options.challenge));
      res.cookie(PASSKEY_COOKIE, ceremony, { httpOnly: true, sameSite: 'strict', path: PASSKEY_COOKIE_PATH, secure: req.secure, maxAge: CHALLENGE_TTL_MS });
      return options;
    }),
  );

  router.post(
    '/passkey/login',
    ...opts.loginLimits,
    endpoint(ctx, { access: 'public', body: passkeyLoginBody }, async ({ req, res, body }) => {
      const deviceKey = await deviceKeyOf(ctx, body.deviceKey);
      const rp = relyingParty(ctx, req);
      const fail = (message?: string): never => {
        ctx.metrics.logins.inc({ outcome: 'invalid_credentials' });
        throw refused(message);
      };

      // The ceremony's challenge, taken (so consumed) whatever happens next.
      const ceremony = parseCookies(req.get('cookie') ?? '')[PASSKEY_COOKIE];
      res.clearCookie(PASSKEY_COOKIE, { path: PASSKEY_COOKIE_PATH });
      const expected = ceremony ? await stored(challenges.take(`login:${ceremony}`)) : null;
      if (!expected) return fail('This passkey sign-in expired or was already used. Try again.');

      const passkey = await findPasskeyByCredentialId(ctx.db, body.response.id);
      if (!passkey) return fail('This passkey is not registered on this server (it may have been removed). Sign in with your password.');
      let verification;
      try {
        verification = await verifyAuthenticationResponse({
          response: body.response as AuthenticationResponseJSON,
          expectedChallenge: expected,
          expectedOrigin: rp.origins,
          expectedRPID: rp.rpID,
          credential: { id: passkey.credentialId, publicKey: passkey.publicKey, counter: passkey.counter, transports: passkey.transports as AuthenticatorTransportFuture[] },
          requireUserVerification: true,
        });
      } catch (err) {
        logRefusal(req, 'sign-in', err);
        return fail();
      }
      const handle = body.response.response.userHandle;
      if (!verification.verified || (handle && handle !== Buffer.from(userHandle(passkey.userId)).toString('base64url'))) return fail();

      const user = await findUser(ctx.db, passkey.userId);
      if (!user) return fail();
      if (user.disabled) {
        ctx.metrics.logins.inc({ outcome: 'account_disabled' });
        throw accountDisabled();
      }
      const { newCounter, credentialBackedUp, credentialDeviceType } = verification.authenticationInfo;
      if (!(await recordPasskeyUse(ctx.db, passkey.id, { counter: newCounter, backedUp: credentialBackedUp, deviceType: credentialDeviceType }))) {
        ctx.log.warn({ passkeyId: passkey.id, userId: user.id }, 'passkey counter did not move forward (a replay or a cloned authenticator)');
        return fail();
      }
      const result = await signIn(ctx, req, res, { deviceName: body.deviceName, deviceKey, signedInWith: 'passkey', writeUser: async () => user });
      ctx.metrics.logins.inc({ outcome: 'success' });
      return result;
    }),
  );

  return router;
}
