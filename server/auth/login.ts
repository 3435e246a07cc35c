/**
 * Signing a device in: the one place that turns verified credentials into a device row, a
 * regenerated session and a device token, so login and register can never drift apart (the
 * design this replaces set a session but issued no token).
 *
 * Guarantees: the session id is regenerated (no fixation); the device row, the session and the
 * fingerprint cookie are created together or not at all; the token carries the SHA-256 of the
 * fingerprint cookie it was issued with; (v2) a device signed in with a key stores it and its
 * thumbprint, and its token carries that thumbprint (`cnf.jkt`).
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Request, Response } from 'express';
import type { AuthResponse, DeviceKey } from '../../shared/api.js';
import type { AppContext } from '../context.js';
import { invalidRequest } from '../errors.js';
import { describeError } from '../logger.js';
import type { Db } from '../db/client.js';
import { devices } from '../db/schema.js';
import { storeCall } from '../http/session.js';
import { deviceNameFrom, presentDevice, revokeDevices } from '../devices/devices.js';
import { presentUser, type UserRow } from '../users/users.js';
import { FINGERPRINT_COOKIE, newFingerprint } from './fingerprint.js';
import { bindDeviceKey, type StoredDeviceKey } from './pop.js';
import { destroySession } from './session-auth.js';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

const regenerate = (req: Request) => storeCall((cb) => req.session.regenerate(cb));
const save = (req: Request) => storeCall((cb) => req.session.save(cb));

/**
 * POP1/POP7: the key a register or login (password or passkey) binds its device to. Without one,
 * DEVICE_BINDING=required refuses the request before anything is checked or written.
 */
export async function deviceKeyOf(ctx: AppContext, key: DeviceKey | undefined) {
  if (!key) {
    if (ctx.config.deviceBinding === 'required') throw invalidRequest('deviceKey: required (this server binds every device to a key)');
    return undefined;
  }
  try {
    return await bindDeviceKey(key);
  } catch {
    throw invalidRequest('deviceKey: not an EC P-256 public key');
  }
}

type SessionStoreWithGenerate = Request['sessionStore'] & { generate(req: Request): void };

/**
 * What this sign-in does with the live session `req` arrives with: `replace` it (the usual case),
 * or `keep` it when its device is bound and active and this request does not prove its key (POP8).
 */
async function previousSession(
  ctx: AppContext,
  req: Request,
): Promise<{ replace: { userId: string; deviceId: string } } | { keep: true } | undefined> {
  const userId = req.session?.userId;
  const deviceId = req.session?.deviceId;
  if (!userId || !deviceId) return undefined;
  const [device] = await ctx.db.select().from(devices).where(eq(devices.id, deviceId)).limit(1);
  // Only a bound device is kept: an unbound one left from before DEVICE_BINDING=required (refused
  // everywhere now, logout included) is replaced, so signing in again really retires it.
  if (device && !device.revokedAt && device.keyThumbprint && !(await ctx.proofs.holds(req, device))) return { keep: true };
  return { replace: { userId, deviceId } };
}

/**
 * Regenerates the session, then in one transaction runs `writeUser`, inserts the device and
 * saves the session; on any failure nothing is committed and the new session is destroyed.
 */
export async function signIn(
  ctx: AppContext,
  req: Request,
  res: Response,
  opts: {
    deviceName?: string;
    deviceKey?: { publicKey: StoredDeviceKey; thumbprint: string };
    /** How the credentials were checked, shown in device lists (default: a password). */
    signedInWith?: 'password' | 'passkey';
    writeUser: (tx: Tx) => Promise<UserRow>;
  },
): Promise<AuthResponse> {
  const deviceId = randomUUID();
  const fingerprint = newFingerprint();
  const userAgent = (req.get('user-agent') ?? '').slice(0, 400);

  // Signing in over a live session replaces it: its device is signed out below, so it does not
  // linger as an active device with no session, and its sockets close (4403 logged_out).
  // POP8: unless that device is bound and this request does not prove its key (a copied cookie
  // jar signing in to any account): then the old session is left to its holder, untouched.
  const previous = await previousSession(ctx, req);
  const previousDeviceId = previous && 'replace' in previous ? previous.replace.deviceId : undefined;
  const previousUserId = previous && 'replace' in previous ? previous.replace.userId : undefined;

  // A new session id either way (no fixation); `generate` is `regenerate` without destroying the old one.
  if (previous && 'keep' in previous) (req.sessionStore as SessionStoreWithGenerate).generate(req);
  else await regenerate(req);
  let user: UserRow;
  let device: typeof devices.$inferSelect;
  try {
    ({ user, device } = await ctx.db.transaction(async (tx) => {
      const u = await opts.writeUser(tx);
      const [d] = await tx
        .insert(devices)
        .values({
          id: deviceId,
          userId: u.id,
          name: opts.deviceName ?? deviceNameFrom(userAgent),
          userAgent,
          ip: req.ip ?? '',
          fingerprintHash: fingerprint.hash,
          publicKey: opts.deviceKey?.publicKey ?? null,
          keyThumbprint: opts.deviceKey?.thumbprint ?? null,
          signedInWith: opts.signedInWith ?? 'password',
        })
        .returning();
      // The session is stored before the rows commit: a store that fails (or does not answer)
      // rolls them back, so a 503 leaves no user or active device behind. A commit that fails
      // after the save leaves a session naming rows that do not exist, which authenticates nothing.
      // The Postgres store has a pool of its own (http/session.ts): waiting on it here never
      // needs a second connection from the pool this transaction holds one of. Nothing slow
      // (argon2) runs in here either: callers hash before signIn.
      req.session.userId = u.id;
      req.session.deviceId = d.id;
      req.session.createdAt = Date.now();
      await save(req);
      return { user: u, device: d };
    }));
  } catch (err) {
    await destroySession(req);
    throw err;
  }

  if (previousDeviceId) {
    await revokeDevices(ctx, { deviceId: previousDeviceId }, 'logged_out', { id: previousUserId ?? null, ip: req.ip ?? null }).catch(
      (err: Error) => ctx.log.warn({ err: describeError(err) }, 'previous device of a replaced session not revoked'),
    );
  }

  res.cookie(FINGERPRINT_COOKIE, fingerprint.value, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure: req.secure,
    maxAge: ctx.config.sessionMaxAgeMs,
  });
  const { token, expiresAt } = ctx.tokens.issue({
    userId: user.id,
    deviceId: device.id,
    fingerprintHash: fingerprint.hash,
    keyThumbprint: device.keyThumbprint,
  });
  ctx.metrics.tokensIssued.inc();
  return {
    user: presentUser(user),
    device: presentDevice(device, { currentDeviceId: device.id, online: new Set() }),
    token,
    expiresAt: expiresAt.toISOString(),
  };
}
