/**
 * POP8: the session cookie of a bound device is not enough on its own. Every session-authenticated
 * request of a device that holds a key carries a DPoP proof (RFC 9449, checked as POP6) for this
 * request's method and URL; authenticateSession asks here, so no route can forget it.
 *
 * Guarantees:
 * - A request of a bound device is admitted only with a proof signed by the device's stored key,
 *   naming this method and `PUBLIC_URL` (else the origin the request reached) plus this path,
 *   `iat` within 60 s, and a `jti` this deployment never saw (one replay cache per instance,
 *   Redis when configured: a proof is good once on any instance).
 * - Each request's proof is verified exactly once, here; nothing else verifies it again (a second
 *   check would find its own jti and call it a replay).
 * - A refusal changes nothing: the session stays (its rightful holder's next request works), the
 *   device is not touched. An unbound device needs no proof, unless DEVICE_BINDING=required:
 *   then a device left from before (signed in unbound) is refused too, so no unbound device is
 *   usable, over HTTP as on sockets and token requests.
 * - One device sends at most `DPOP_PROOFS_PER_DEVICE` proofs per replay window; past it, its
 *   requests are 429 `rate_limited` with Retry-After, every other device unaffected.
 * - Cost: one ES256 verify and one replay-cache write per request; the device's key is imported
 *   once per instance (DeviceKeyCache, by thumbprint), never per request.
 *
 * @example
 * const proofs = new SessionProofs(config, redis);
 * await proofs.require(req, device); // throws 401 invalid_proof or 503
 */
import type { Request } from 'express';
import type { Config } from '../config.js';
import type { devices } from '../db/schema.js';
import { AppError, rateLimited, serviceUnavailable } from '../errors.js';
import type { RedisClient } from '../redis.js';
import { DeviceKeyCache, MemoryReplayCache, ProofQuotaExceeded, RedisReplayCache, verifyDpop, type ReplayCache } from './pop.js';

type DeviceRow = typeof devices.$inferSelect;

export const invalidProof = (message = "A DPoP proof signed by this device's key is required") => new AppError('invalid_proof', message);

/** POP6/POP8: the URL a DPoP proof must name: PUBLIC_URL plus the path, else the origin the request reached. */
export function requestUrl(publicUrl: string | undefined, req: Request): string {
  const path = new URL(req.originalUrl, 'http://relay.invalid').pathname;
  // req.protocol and req.host follow X-Forwarded-Proto/-Host only from proxies TRUST_PROXY names.
  return (publicUrl ?? `${req.protocol}://${req.host}`) + path;
}

export class SessionProofs {
  /** Imported device keys by thumbprint, shared by every request of this instance. */
  readonly keys = new DeviceKeyCache();
  private readonly replays: ReplayCache;

  constructor(
    private readonly config: Pick<Config, 'publicUrl' | 'deviceBinding'> & { rateLimits: Pick<Config['rateLimits'], 'proofsPerDevice'> },
    redis?: RedisClient,
  ) {
    // On Redis every instance shares the proof ids, so a proof is good once anywhere.
    const perKey = config.rateLimits.proofsPerDevice;
    this.replays = redis ? new RedisReplayCache(redis, perKey) : new MemoryReplayCache(undefined, perKey);
  }

  /**
   * Whether `req` carries a valid, unused proof for `device` (true for an unbound device, unless
   * binding is required). Throws a 429 when the device is past its proofs per window
   * (DPOP_PROOFS_PER_DEVICE), and a 503 when the replay cache cannot answer: an unchecked proof
   * is never admitted.
   */
  async holds(req: Request, device: DeviceRow): Promise<boolean> {
    const jkt = device.keyThumbprint;
    if (!jkt || !device.publicKey) return this.config.deviceBinding !== 'required';
    const key = await this.keys.get(jkt, device.publicKey);
    try {
      return await verifyDpop(
        req.get('dpop'),
        { method: req.method, url: requestUrl(this.config.publicUrl, req), device: { jkt, publicKey: device.publicKey, key } },
        this.replays,
      );
    } catch (err) {
      if (err instanceof ProofQuotaExceeded) throw rateLimited(err.retryAfterS, 'user');
      throw serviceUnavailable('Proofs cannot be checked right now; try again shortly');
    }
  }

  /** Throws 401 `invalid_proof` unless `req` proves `device`'s key (see `holds`). */
  async require(req: Request, device: DeviceRow): Promise<void> {
    if (await this.holds(req, device)) return;
    if (!device.keyThumbprint) throw invalidProof('This server requires devices bound to a key: sign in again from an up-to-date client');
    throw invalidProof();
  }
}
