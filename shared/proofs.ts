/**
 * Making proofs of possession of a device key (CONTRACT "(v2) Proof of possession"), for every
 * client: the browser (a non-extractable WebCrypto key from IndexedDB), the terminal client (a key
 * file) and the tests. The server's side, verifying them, is `server/auth/pop.ts`.
 *
 * Everything here runs on WebCrypto and `jose`, both present in browsers and in Node 20, so the
 * one module serves both; it imports nothing from either side.
 *
 * Clock: the server accepts a proof whose `iat` is within 60 s of its own clock, and a device's
 * clock may be minutes off. So proofs are dated on the server's clock as this client estimates
 * it (`ServerClock`): every API response's `Date` header (1 s resolution, plenty for a 60 s
 * window) is given to `observe`, and `iat` is the local clock plus the learnt offset. A request
 * refused with 401 `invalid_proof` whose `Date` moved the estimate by `STALE_SHIFT_MS` or more
 * was refused for its time, not its key: the callers retry it once with a fresh proof.
 *
 * @example
 * const dpop = await dpopProof(key, 'POST', 'https://chat.example/api/auth/token');
 * socket.send(JSON.stringify({ type: 'authenticate', token, proof: await socketProof(key, nonce, token) }));
 */
import { base64url, CompactSign, SignJWT, type CryptoKey, type JWK } from 'jose';

/** A device key as a client holds it: the private key signs, the public JWK is what the server stores. */
export interface ProofKey {
  privateKey: CryptoKey;
  /** `{kty: 'EC', crv: 'P-256', x, y}`: never the private part. */
  publicJwk: JWK;
}

export const DPOP_TYP = 'dpop+jwt';
export const SOCKET_PROOF_TYP = 'relay-pop+jwt';

/** An estimate that moves less than this is left alone (the header's resolution and latency). */
const CLOCK_TOLERANCE_MS = 2_000;
/** A move this large since a proof was signed means its `iat` may have been outside the server's 60 s. */
export const STALE_SHIFT_MS = 30_000;

/**
 * The server's clock as this client estimates it: the local clock (`localNow`, injectable for
 * tests) plus an offset learnt from the server's `Date` headers.
 */
export class ServerClock {
  private offsetMs = 0;

  constructor(private readonly localNow: () => number = () => Date.now()) {}

  /** Server time minus local time, in ms, as estimated (0 until a Date header said otherwise). */
  get offset(): number {
    return this.offsetMs;
  }

  setOffset(ms: number): void {
    if (Number.isFinite(ms)) this.offsetMs = ms;
  }

  /** Epoch ms on the server's clock. */
  now(): number {
    return this.localNow() + this.offsetMs;
  }

  /**
   * Learns from a response's `Date` header (an HTTP date, whole seconds: the middle of that second
   * is taken). Returns whether the estimate moved; a missing or unreadable header changes nothing.
   */
  observe(date: string | null | undefined): boolean {
    if (!date) return false;
    const server = Date.parse(date);
    if (!Number.isFinite(server)) return false;
    const offset = server + 500 - this.localNow();
    if (Math.abs(offset - this.offsetMs) < CLOCK_TOLERANCE_MS) return false;
    this.offsetMs = offset;
    return true;
  }

  /** Whether the estimate moved by STALE_SHIFT_MS or more since it was `before` (an earlier `offset`). */
  movedSince(before: number): boolean {
    return Math.abs(this.offsetMs - before) >= STALE_SHIFT_MS;
  }
}

/** The clock every proof is dated with unless a caller passes its own (one per page or process). */
export const serverClock = new ServerClock();

const nowS = (clock: ServerClock) => Math.floor(clock.now() / 1000);

/** Only the public members of an EC key: what a `deviceKey` or a DPoP header carries. */
export function publicMembers(jwk: JWK): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

/** `ath`: base64url SHA-256 of the token a proof accompanies. */
export async function accessTokenHash(token: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
  return base64url.encode(new Uint8Array(digest));
}

/**
 * An RFC 9449 DPoP proof for one request: `htu` is the endpoint's URL without query or fragment.
 * Each call makes a new `jti`, so a proof is good for one request only. `iat` is `clock`'s.
 */
export function dpopProof(key: ProofKey, htm: string, htu: string, clock: ServerClock = serverClock): Promise<string> {
  const url = new URL(htu);
  url.search = '';
  url.hash = '';
  return new SignJWT({ htm, htu: url.toString(), jti: globalThis.crypto.randomUUID(), iat: nowS(clock) })
    .setProtectedHeader({ alg: 'ES256', typ: DPOP_TYP, jwk: publicMembers(key.publicJwk) })
    .sign(key.privateKey);
}

/** The `proof` of a socket's `authenticate` or `refresh`: the latest nonce it was given and the token's hash. */
export async function socketProof(key: ProofKey, nonce: string, token: string, clock: ServerClock = serverClock): Promise<string> {
  const payload = { nonce, ath: await accessTokenHash(token), iat: nowS(clock) };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', typ: SOCKET_PROOF_TYP })
    .sign(key.privateKey);
}
