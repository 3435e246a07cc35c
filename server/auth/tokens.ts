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
 * - A bound device's tokens carry `cnf: {jkt}`, its key's thumbprint; `verify` refuses a token whose
 *   `cnf` disagrees with the device row, and hands the row's key to the caller, who must then
 *   check the proof of possession (pop.ts): a valid token alone never admits a bound device.
 * - Nothing here throws at callers: results carry a reason from the contract.
 */
import { createHash, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type pg from 'pg';
import { fingerprintMatches } from './fingerprint.js';
import type { StoredDeviceKey } from './pop.js';
import { revokedDeviceReason, type RevocationReason } from '../../shared/codes.js';

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
  /** (v2) Confirmation: the thumbprint of a bound device's key. */
  cnf?: { jkt: string };
}

/** (v2) A bound device's key, read with its row. */
export interface BoundKey {
  jwk: StoredDeviceKey;
  jkt: string;
}

/** Why a token is refused; `try_again_later` when the database could not be asked (the socket closes 1013). */
export type TokenFailure = 'invalid_token' | 'token_expired' | RevocationReason | 'try_again_later';

export interface ActiveIdentity {
  user: { id: string; username: string; displayName: string; role: 'user' | 'admin' };
  deviceId: string;
}

export type SignatureResult = { ok: true; claims: TokenClaims } | { ok: false; reason: 'invalid_token' | 'token_expired' };
export type VerifyResult =
  | { ok: true; claims: TokenClaims; identity: ActiveIdentity; expiresAt: Date; key?: BoundKey }
  | { ok: false; reason: TokenFailure };
export type DeviceStatus =
  | { ok: true; identity: ActiveIdentity; key?: BoundKey }
  | { ok: false; reason: 'invalid_token' | RevocationReason };

interface SigningKey {
  kid: string;
  key: KeyObject;
}

function keyId(secret: Buffer): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 16);
}

interface DeviceRow {
  id: string;
  user_id: string;
  revoked: boolean;
  /** Who revoked it (devices.revoked_reason), so a socket that missed the live close is told the same. */
  revoked_reason: string | null;
  disabled: boolean;
  username: string;
  display_name: string;
  role: 'user' | 'admin';
  public_key: StoredDeviceKey | null;
  key_thumbprint: string | null;
}

/**
 * A named (prepared once per connection) query for every socket that authenticates. It takes a
 * batch: the devices asked about in one turn of the event loop are read in one round trip.
 */
const DEVICE_STATUS = {
  name: 'relay_device_status',
  text: `SELECT d.id, d.user_id, d.revoked_at IS NOT NULL AS revoked, d.revoked_reason, u.disabled, u.username, u.display_name, u.role,
                d.public_key, d.key_thumbprint
           FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ANY($1::uuid[])`,
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class TokenService {
  private readonly keys: SigningKey[];
  private readonly byKid: Map<string, KeyObject>;
  private readonly inFlight = new Map<string, Promise<DeviceRow | undefined>>();
  /** Device ids asked about in this turn, read together when it ends (see loadDevice). */
  private batch?: { ids: string[]; rows: Promise<Map<string, DeviceRow>> };

  constructor(
    secrets: Buffer[],
    private readonly ttlMs: number,
    private readonly pool: pg.Pool,
  ) {
    if (secrets.length === 0) throw new Error('TokenService needs at least one secret');
    this.keys = secrets.map((s) => ({ kid: keyId(s), key: createSecretKey(s) }));
    this.byKid = new Map(this.keys.map((k) => [k.kid, k.key]));
  }

  /** Signs a token for a device. @example tokens.issue({ userId, deviceId, fingerprintHash }) */
  issue(input: { userId: string; deviceId: string; fingerprintHash: string; keyThumbprint?: string | null }): { token: string; expiresAt: Date } {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + Math.max(1, Math.round(this.ttlMs / 1000));
    const signing = this.keys[0];
    const cnf = input.keyThumbprint ? { cnf: { jkt: input.keyThumbprint } } : {};
    const token = jwt.sign({ sub: input.userId, did: input.deviceId, fph: input.fingerprintHash, ...cnf, iat: now, exp }, signing.key, {
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
      const { sub, did, jti, fph, iat, exp, cnf } = payload;
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
      if (cnf === undefined) return { ok: true, claims: { sub, did, jti, fph, iat, exp } };
      const jkt = (cnf as { jkt?: unknown } | null)?.jkt;
      if (typeof jkt !== 'string') return { ok: false, reason: 'invalid_token' };
      return { ok: true, claims: { sub, did, jti, fph, iat, exp, cnf: { jkt } } };
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) return { ok: false, reason: 'token_expired' };
      return { ok: false, reason: 'invalid_token' };
    }
  }

  /**
   * Is this device active? Reads the database, never a cache. Concurrent asks for the same
   * device (a reconnect storm, many tabs) share one in-flight query, so an answer can predate its
   * ask by up to one query's time; a revocation committed in that window still reaches the
   * socket through the revocation event (the gateway checks sockets against recent revocations
   * when it registers them) and, failing that, the sweep.
   */
  deviceStatus(deviceId: string, userId?: string): Promise<DeviceStatus> {
    let pending = this.inFlight.get(deviceId);
    if (!pending) {
      pending = this.loadDevice(deviceId).finally(() => this.inFlight.delete(deviceId));
      this.inFlight.set(deviceId, pending);
    }
    return pending.then((row) => {
      if (!row || (userId && row.user_id !== userId)) return { ok: false, reason: 'invalid_token' } as const;
      if (row.disabled) return { ok: false, reason: 'account_disabled' } as const;
      if (row.revoked) return { ok: false, reason: revokedDeviceReason(row.revoked_reason) } as const;
      return {
        ok: true,
        identity: { deviceId, user: { id: row.user_id, username: row.username, displayName: row.display_name, role: row.role } },
        key: row.public_key && row.key_thumbprint ? { jwk: row.public_key, jkt: row.key_thumbprint } : undefined,
      } as const;
    });
  }

  /**
   * Reads a device's row. Asks made in the same turn (a reconnect storm, a burst of sockets) share
   * one query, sent when the turn ends: one round trip and one Postgres execution instead of one
   * per socket. Each answer is still read after its ask was made.
   */
  private async loadDevice(deviceId: string): Promise<DeviceRow | undefined> {
    if (!UUID.test(deviceId)) return undefined;
    let batch = this.batch;
    if (!batch) {
      const ids: string[] = [];
      const rows = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        if (this.batch?.ids === ids) this.batch = undefined;
        const result = await this.pool.query<DeviceRow>({ ...DEVICE_STATUS, values: [ids] });
        return new Map(result.rows.map((row) => [row.id, row]));
      });
      batch = this.batch = { ids, rows };
    }
    batch.ids.push(deviceId);
    return (await batch.rows).get(deviceId.toLowerCase());
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
      // Fail closed: a database error never admits a token. It is not the token's fault either,
      // so the client backs off and retries with the same token instead of fetching new ones.
      return { ok: false, reason: 'try_again_later' };
    }
    if (!status.ok) return status;
    // A device is bound at its creation and never changes key: a token whose cnf disagrees with
    // the row was not issued for it.
    if (sig.claims.cnf?.jkt !== status.key?.jkt) return { ok: false, reason: 'invalid_token' };
    return { ok: true, claims: sig.claims, identity: status.identity, expiresAt: new Date(sig.claims.exp * 1000), key: status.key };
  }
}
