/**
 * Device tokens: the only module that issues or verifies them.
 *
 * Guarantees:
 * - Tokens are HS256 JWTs signed with the first JWT_SECRET (a KeyObject, never a string: a string
 *   secret makes jsonwebtoken try it as a public key first, ~45x slower). Every listed secret
 *   verifies, selected by `kid`, so a rotated-out secret stops verifying once removed.
 * - The verifier pins the algorithm and checks `typ`, `iss`, `aud`, `exp`, and the claims' shape.
 * - A token is accepted only while its device row is not revoked, belongs to `sub`, and its user
 *   is not disabled: `verify` asks the database every time, so revocation works before expiry on
 *   every instance.
 * - Nothing here throws at callers: results carry a reason from the contract.
 */
import { createHash, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import { eq } from 'drizzle-orm';
import jwt from 'jsonwebtoken';
import type { Db } from '../db/client.js';
import { devices, users } from '../db/schema.js';
import { fingerprintMatches } from './fingerprint.js';

export const TOKEN_TYP = 'relay-device+jwt';
export const TOKEN_ISSUER = 'relay';
export const TOKEN_AUDIENCE = 'relay-ws';
const ALGORITHM = 'HS256';

export interface TokenClaims {
  sub: string;
  did: string;
  jti: string;
  /** SHA-256 of the device-fingerprint cookie. */
  fph: string;
  iat: number;
  exp: number;
}

export type TokenFailure = 'invalid_token' | 'token_expired' | 'device_revoked' | 'account_disabled';

export interface ActiveIdentity {
  user: { id: string; username: string; displayName: string; role: 'user' | 'admin' };
  deviceId: string;
}

export type SignatureResult = { ok: true; claims: TokenClaims } | { ok: false; reason: 'invalid_token' | 'token_expired' };
export type VerifyResult =
  | { ok: true; claims: TokenClaims; identity: ActiveIdentity; expiresAt: Date }
  | { ok: false; reason: TokenFailure };
export type DeviceStatus =
  | { ok: true; identity: ActiveIdentity }
  | { ok: false; reason: 'invalid_token' | 'device_revoked' | 'account_disabled' };

interface SigningKey {
  kid: string;
  key: KeyObject;
}

function keyId(secret: Buffer): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 16);
}

export class TokenService {
  private readonly keys: SigningKey[];
  private readonly byKid: Map<string, KeyObject>;

  constructor(
    secrets: Buffer[],
    private readonly ttlMs: number,
    private readonly db: Db,
  ) {
    if (secrets.length === 0) throw new Error('TokenService needs at least one secret');
    this.keys = secrets.map((s) => ({ kid: keyId(s), key: createSecretKey(s) }));
    this.byKid = new Map(this.keys.map((k) => [k.kid, k.key]));
  }

  /** Signs a token for a device. @example tokens.issue({ userId, deviceId, fingerprintHash }) */
  issue(input: { userId: string; deviceId: string; fingerprintHash: string }): { token: string; expiresAt: Date } {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + Math.max(1, Math.round(this.ttlMs / 1000));
    const signing = this.keys[0];
    const token = jwt.sign({ sub: input.userId, did: input.deviceId, fph: input.fingerprintHash, iat: now, exp }, signing.key, {
      algorithm: ALGORITHM,
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      jwtid: randomUUID(),
      header: { alg: ALGORITHM, typ: TOKEN_TYP, kid: signing.kid },
    });
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /** Checks signature, header and claims; no database access. */
  verifySignature(token: string): SignatureResult {
    if (typeof token !== 'string' || token.length > 4096) return { ok: false, reason: 'invalid_token' };
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.header !== 'object') return { ok: false, reason: 'invalid_token' };
    const { header } = decoded;
    if (header.alg !== ALGORITHM || header.typ !== TOKEN_TYP || !header.kid) return { ok: false, reason: 'invalid_token' };
    const key = this.byKid.get(header.kid);
    if (!key) return { ok: false, reason: 'invalid_token' };
    try {
      const payload = jwt.verify(token, key, {
        algorithms: [ALGORITHM],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
      }) as Record<string, unknown>;
      const { sub, did, jti, fph, iat, exp } = payload;
      if (
        typeof sub !== 'string' ||
        typeof did !== 'string' ||
        typeof jti !== 'string' ||
        typeof fph !== 'string' ||
        typeof iat !== 'number' ||
        typeof exp !== 'number'
      ) {
        return { ok: false, reason: 'invalid_token' };
      }
      return { ok: true, claims: { sub, did, jti, fph, iat, exp } };
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) return { ok: false, reason: 'token_expired' };
      return { ok: false, reason: 'invalid_token' };
    }
  }

  /** Is this device active right now? Reads the database; never cached. */
  async deviceStatus(deviceId: string, userId?: string): Promise<DeviceStatus> {
    const rows = await this.db
      .select({
        deviceId: devices.id,
        userId: devices.userId,
        revokedAt: devices.revokedAt,
        revokedReason: devices.revokedReason,
        disabled: users.disabled,
        username: users.username,
        displayName: users.displayName,
        role: users.role,
      })
      .from(devices)
      .innerJoin(users, eq(users.id, devices.userId))
      .where(eq(devices.id, deviceId))
      .limit(1);
    const row = rows[0];
    if (!row || (userId && row.userId !== userId)) return { ok: false, reason: 'invalid_token' };
    if (row.disabled) return { ok: false, reason: 'account_disabled' };
    if (row.revokedAt) return { ok: false, reason: 'device_revoked' };
    return {
      ok: true,
      identity: {
        deviceId: row.deviceId,
        user: { id: row.userId, username: row.username, displayName: row.displayName, role: row.role },
      },
    };
  }

  /**
   * Full verification for the gateway: signature, claims, the fingerprint cookie, and the device's
   * state in the database.
   */
  async verify(token: string, fingerprintCookie: string | undefined): Promise<VerifyResult> {
    const sig = this.verifySignature(token);
    if (!sig.ok) return sig;
    if (!fingerprintMatches(fingerprintCookie, sig.claims.fph)) return { ok: false, reason: 'invalid_token' };
    let status: DeviceStatus;
    try {
      status = await this.deviceStatus(sig.claims.did, sig.claims.sub);
    } catch {
      // Fail closed: a database error never admits a token.
      return { ok: false, reason: 'invalid_token' };
    }
    if (!status.ok) return status;
    return { ok: true, claims: sig.claims, identity: status.identity, expiresAt: new Date(sig.claims.exp * 1000) };
  }
}
