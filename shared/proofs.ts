/**
 * Making proofs of possession of a device key (CONTRACT "(v2) Proof of possession"), for every
 * client: the browser (a non-extractable WebCrypto key from IndexedDB), the terminal client (a key
 * file) and the tests. The server's side, verifying them, is `server/auth/pop.ts`.
 *
 * Everything here runs on WebCrypto and `jose`, both present in browsers and in Node 20, so the
 * one module serves both; it imports nothing from either side.
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

const nowS = () => Math.floor(Date.now() / 1000);

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
 * Each call makes a new `jti`, so a proof is good for one request only.
 */
export function dpopProof(key: ProofKey, htm: string, htu: string): Promise<string> {
  const url = new URL(htu);
  url.search = '';
  url.hash = '';
  return new SignJWT({ htm, htu: url.toString(), jti: globalThis.crypto.randomUUID(), iat: nowS() })
    .setProtectedHeader({ alg: 'ES256', typ: DPOP_TYP, jwk: publicMembers(key.publicJwk) })
    .sign(key.privateKey);
}

/** The `proof` of a socket's `authenticate` or `refresh`: the latest nonce it was given and the token's hash. */
export async function socketProof(key: ProofKey, nonce: string, token: string): Promise<string> {
  const payload = { nonce, ath: await accessTokenHash(token), iat: nowS() };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', typ: SOCKET_PROOF_TYP })
    .sign(key.privateKey);
}
