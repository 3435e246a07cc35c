/**
 * Test device keys and proofs of possession, signed with jose as a real client would.
 * @example
 * const key = await deviceKey();
 * const bob = await server.register('bob', undefined, { deviceKey: key.publicJwk });
 * await bob.post('/api/auth/token', undefined, { dpop: await key.dpop(server.url + '/api/auth/token') });
 * s.send({ type: 'authenticate', token, proof: await key.socketProof(challenge.nonce, token) });
 */
import { createHash, randomUUID } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import type { HttpClient } from './http-client.js';

export interface TestDeviceKey {
  /** The public JWK as WebCrypto exports it (kty, crv, x, y; no `d`). */
  publicJwk: JWK;
  /** The full JWK, private part included. */
  privateJwk: JWK;
  dpop(htu: string, opts?: { htm?: string; iat?: number; jti?: string; jwk?: JWK }): Promise<string>;
  socketProof(nonce: string, token: string, opts?: { iat?: number; typ?: string }): Promise<string>;
}

export const nowS = () => Math.floor(Date.now() / 1000);
export const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

export async function deviceKey(): Promise<TestDeviceKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  return {
    publicJwk,
    privateJwk,
    dpop: (htu, opts = {}) =>
      new SignJWT({ htm: opts.htm ?? 'POST', htu, jti: opts.jti ?? randomUUID(), iat: opts.iat ?? nowS() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: opts.jwk ?? publicJwk })
        .sign(privateKey),
    socketProof: (nonce, token, opts = {}) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify({ nonce, ath: ath(token), iat: opts.iat ?? nowS() })))
        .setProtectedHeader({ alg: 'ES256', typ: opts.typ ?? 'relay-pop+jwt' })
        .sign(privateKey),
  };
}

/** An unsigned (`alg: none`) JWS over `payload`, as an attacker would write it. */
export function unsignedJws(header: object, payload: object): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ ...header, alg: 'none' })}.${b64(payload)}.`;
}

/** An HS256 JWS keyed with `secret` (e.g. the public key's bytes: the classic confusion attack). */
export async function hs256Jws(header: object, payload: object, secret: Uint8Array): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ ...header, alg: 'HS256' }).sign(secret);
}

/**
 * POP8: makes `client` sign a DPoP proof with `key` on every request, as a bound device's client
 * does; `origin` is the origin proofs name (PUBLIC_URL behind a proxy), the client's by default.
 * @example const bob = proving(await server.register('bob', undefined, { deviceKey: key.publicJwk }), key);
 */
export function proving(client: HttpClient, key: TestDeviceKey, origin = client.baseUrl): HttpClient {
  client.dpop = (method, path) => key.dpop(origin + path.split('?')[0], { htm: method });
  return client;
}
