/**
 * Proof of possession of a device key (CONTRACT "(v2) Proof of possession"; SPEC POP1–POP8).
 *
 * Guarantees:
 * - A device key is an EC P-256 public JWK; it is stored as `{kty, crv, x, y}` with its RFC 7638
 *   SHA-256 thumbprint, the `cnf.jkt` of the device's tokens. A point not on the curve is refused.
 * - Every proof is verified with `jose`, the algorithm pinned to ES256 (`alg: none`, HS256 and
 *   anything else are refused before any key is used) and `typ` checked.
 * - A DPoP proof (RFC 9449) counts only when it is signed by the device's stored key, its header
 *   key is that key (the same thumbprint, no private part), its `htm`/`htu` name this request,
 *   its `iat` is within 60 s, and its `jti` was never seen: the replay cache is Redis (`SET NX PX`, shared by every instance) when there is one, else a
 *   bounded map in this process. A full or unreachable cache refuses (503), never admits. These
 *   cheap checks run on the decoded proof before its one signature check.
 * - One device key has at most PROOFS_PER_KEY proofs per replay window (429 past it, for that
 *   device only), so no single device can fill the cache and deny every other.
 * - A socket proof counts only when it is signed by the device's stored key over the nonce this
 *   socket was given last, the hash of the token it accompanies, and an `iat` within 60 s; the
 *   caller consumes the nonce before verifying, so each one is good once.
 */
import { createHash, randomBytes, type webcrypto } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK, type ProtectedHeaderParameters } from 'jose';
import type { DeviceKey } from '../../shared/api.js';
import { DPOP_TYP, SOCKET_PROOF_TYP } from '../../shared/proofs.js';
export { DPOP_TYP, SOCKET_PROOF_TYP };

/** An imported device public key (WebCrypto's CryptoKey; named from node:crypto so the server build needs no DOM types). */
export type DevicePublicKey = webcrypto.CryptoKey;
import type { RedisClient } from '../redis.js';

/** What a device row stores: the public members of its key only. */
export interface StoredDeviceKey {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** How far a proof's `iat` may be from the server's clock. */
export const PROOF_MAX_SKEW_S = 60;
/** How long a DPoP `jti` is remembered: past it, the proof's `iat` is too old anyway. */
export const DPOP_JTI_TTL_MS = 2 * (PROOF_MAX_SKEW_S * 1000) + 10_000;
const ALGORITHMS = ['ES256'];

/** The key as stored, and its thumbprint. Throws when the point is not a P-256 public key. */
export async function bindDeviceKey(key: DeviceKey): Promise<{ publicKey: StoredDeviceKey; thumbprint: string }> {
  const publicKey: StoredDeviceKey = { kty: 'EC', crv: 'P-256', x: key.x, y: key.y };
  await importDeviceKey(publicKey); // refuses a point that is not on the curve
  return { publicKey, thumbprint: await calculateJwkThumbprint(publicKey, 'sha256') };
}

/** The verification key of a stored JWK (~0.1 ms; the gateway keeps it per device while it has a socket). */
export async function importDeviceKey(jwk: StoredDeviceKey): Promise<DevicePublicKey> {
  return (await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'ES256')) as DevicePublicKey;
}

/**
 * POP5: imported device keys by RFC 7638 thumbprint, the most recently used kept. A thumbprint
 * always names the same key, so an entry never goes stale, and a device that reconnects (a page
 * reload, a restart's reconnect storm) skips the import (~0.1 ms) its first socket paid.
 */
export class DeviceKeyCache {
  private readonly keys = new Map<string, DevicePublicKey>();
  constructor(private readonly max = 4_096) {}

  /** The key for `jkt`, imported from `jwk` when it is not held. Throws when `jwk` is not a P-256 public key. */
  async get(jkt: string, jwk: StoredDeviceKey): Promise<DevicePublicKey> {
    const held = this.keys.get(jkt);
    if (held) {
      this.keys.delete(jkt); // re-inserted: the Map's order is the recency order
      this.keys.set(jkt, held);
      return held;
    }
    const key = await importDeviceKey(jwk);
    this.keys.set(jkt, key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.keys().next().value as string);
    return key;
  }

  get size(): number {
    return this.keys.size;
  }
}

/** `ath`: base64url SHA-256 of the token a proof accompanies. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** A random, unguessable nonce for the next socket proof. */
export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

function fresh(iat: unknown, nowS: number): boolean {
  return typeof iat === 'number' && Number.isFinite(iat) && Math.abs(nowS - iat) <= PROOF_MAX_SKEW_S;
}

/**
 * POP4/POP5: a socket proof over `{nonce, ath, iat}`. `nonce` is the one this socket was given
 * last, already consumed by the caller (undefined: none is outstanding, so no proof counts).
 */
export async function verifySocketProof(
  proof: string | undefined,
  key: DevicePublicKey,
  expected: { nonce: string | undefined; token: string },
): Promise<boolean> {
  if (!proof || !expected.nonce) return false;
  try {
    const { payload } = await jwtVerify(proof, key, { algorithms: ALGORITHMS, typ: SOCKET_PROOF_TYP });
    return payload.nonce === expected.nonce && payload.ath === tokenHash(expected.token) && fresh(payload.iat, Date.now() / 1000);
  } catch {
    return false;
  }
}

/** A device key sent more proofs in one replay window than its cap: 429 for that device only. */
export class ProofQuotaExceeded extends Error {
  constructor(readonly retryAfterS: number) {
    super('too many proofs from one device key in the replay window');
  }
}

/**
 * Remembers proof ids per device key: true the first time `jti` is seen for `jkt` within `ttlMs`.
 * Throws ProofQuotaExceeded when `jkt` has had `perKey` proofs in its current window (one device
 * cannot fill the cache for every other), and ReplayCacheFull when the cache as a whole is full.
 */
export interface ReplayCache {
  firstUse(jkt: string, jti: string, ttlMs: number): Promise<boolean>;
}

/** The default per-key cap: ~23 proved requests a second, sustained over the window. */
export const PROOFS_PER_KEY = 3_000;

/**
 * A proof id's first use and its key's count, in one atomic step: over the cap → {-1, ms left};
 * a replayed id → {0, 0} (not counted: replays of a captured proof must not spend its device's
 * budget); a first use → {1, ms left}, counted in a fixed window whose expiry is set by whoever
 * opens it. Both keys carry the thumbprint as a hash tag, so they share one Cluster slot.
 */
const FIRST_USE_SCRIPT = `
local cap = tonumber(ARGV[2])
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
if n >= cap then return {-1, redis.call('PTTL', KEYS[2])} end
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return {0, 0} end
redis.call('INCR', KEYS[2])
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {1, ttl}`;

/** Shared by every instance on one Redis: the proof ids and each key's count in its window. */
export class RedisReplayCache implements ReplayCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly perKey = PROOFS_PER_KEY,
  ) {}
  async firstUse(jkt: string, jti: string, ttlMs: number): Promise<boolean> {
    const [outcome, remainingMs] = (await this.redis.eval(FIRST_USE_SCRIPT, {
      keys: [`relay:dpop:{${jkt}}:${jti}`, `relay:dpop-n:{${jkt}}`],
      arguments: [String(ttlMs), String(this.perKey)],
    })) as [number, number];
    if (outcome === -1) throw new ProofQuotaExceeded(Math.max(1, Math.ceil(remainingMs / 1000)));
    return outcome === 1;
  }
}

export class ReplayCacheFull extends Error {}

/**
 * One process's proof ids. Entries expire in insertion order (one TTL for all), so expired ones
 * are dropped from the front; at `max` live entries it refuses rather than forget one that may be
 * replayed. Each key may hold `perKey` of them per window, so filling it takes many devices.
 */
export class MemoryReplayCache implements ReplayCache {
  private readonly seen = new Map<string, number>();
  /** Per key: proofs counted in its current window and when that window ends (window-start order). */
  private readonly counts = new Map<string, { n: number; resetAt: number }>();
  constructor(
    private readonly max = 100_000,
    private readonly perKey = PROOFS_PER_KEY,
  ) {}
  async firstUse(jkt: string, jti: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    for (const [key, expires] of this.seen) {
      if (expires > now) break;
      this.seen.delete(key);
    }
    for (const [key, count] of this.counts) {
      if (count.resetAt > now) break;
      this.counts.delete(key);
    }
    let count = this.counts.get(jkt);
    if (count && count.n >= this.perKey) throw new ProofQuotaExceeded(Math.max(1, Math.ceil((count.resetAt - now) / 1000)));
    const id = `${jkt}:${jti}`;
    const expires = this.seen.get(id);
    if (expires !== undefined && expires > now) return false;
    if (this.seen.size >= this.max) throw new ReplayCacheFull('too many proofs in the replay window');
    this.seen.set(id, now + ttlMs);
    if (!count) this.counts.set(jkt, (count = { n: 0, resetAt: now + ttlMs }));
    count.n++;
    return true;
  }
}

/** The device a DPoP proof must be made by: its thumbprint, its stored key and that key imported (DeviceKeyCache). */
export interface ProvingDevice {
  jkt: string;
  publicKey: StoredDeviceKey;
  key: DevicePublicKey;
}

/**
 * POP6/POP8: a DPoP proof for a request of `device`. `url` is the URL the request reached without
 * query. The signature is checked with the device's own imported key (one ES256 verify, no
 * import per request), and the header's `jwk` must be that key: the same RFC 7638 members, so
 * the same thumbprint, and no private part. Resolves false for any bad proof; throws only when
 * the replay cache cannot answer.
 */
export async function verifyDpop(
  proof: string | undefined,
  expected: { method: string; url: string; device: ProvingDevice },
  replays: ReplayCache,
): Promise<boolean> {
  if (!proof || proof.length > 4096) return false;
  const { device } = expected;
  // The cheap checks first, on the decoded (not yet trusted) header and claims: a proof that
  // could not count anyway costs no signature check. The signature then vouches for all of them.
  let header: ProtectedHeaderParameters;
  let claims: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(proof);
    claims = decodeJwt(proof);
  } catch {
    return false;
  }
  if (header.typ !== DPOP_TYP || header.alg !== 'ES256') return false;
  if (!header.jwk || !isDeviceKey(header.jwk, device.publicKey)) return false;
  if (claims.htm !== expected.method || typeof claims.htu !== 'string' || !sameUrl(claims.htu, expected.url)) return false;
  if (!fresh(claims.iat, Date.now() / 1000)) return false;
  const { jti } = claims;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) return false;
  try {
    const verified = await jwtVerify(proof, device.key, { algorithms: ALGORITHMS, typ: DPOP_TYP });
    // Verified over the same bytes as decoded; read the claims from the verified result all the same.
    if (verified.payload.jti !== jti) return false;
  } catch {
    return false;
  }
  return replays.firstUse(device.jkt, jti, DPOP_JTI_TTL_MS);
}

/**
 * The header key is the stored one: equal `kty`, `crv`, `x`, `y` (the members RFC 7638 hashes, so
 * equal thumbprints, without hashing per request) and no private `d`.
 */
function isDeviceKey(jwk: JWK, stored: StoredDeviceKey): boolean {
  return jwk.kty === stored.kty && jwk.crv === stored.crv && jwk.x === stored.x && jwk.y === stored.y && jwk.d === undefined;
}

/** RFC 9449 §4.3: `htu` is compared without its query and fragment, after normalisation. */
function sameUrl(htu: string, expected: string): boolean {
  try {
    const u = new URL(htu);
    u.search = '';
    u.hash = '';
    return u.href === new URL(expected).href;
  } catch {
    return false;
  }
}
