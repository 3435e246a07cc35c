/**
 * A software WebAuthn authenticator for server tests: a real P-256 key pair, real ECDSA
 * signatures, authenticator data and CBOR laid out as the WebAuthn spec says (attestation
 * `none`), so the server's verification runs unchanged. What Chromium's virtual authenticator
 * does in the browser tests (client/e2e/passkeys.test.ts), without a browser.
 *
 * @example
 * const auth = new SoftAuthenticator('http://localhost:3000');
 * const response = auth.register(await options());            // body.response of POST /api/auth/passkeys
 * const assertion = auth.authenticate(await loginOptions());  // body.response of POST /api/auth/passkey/login
 */
import { createHash, createSign, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

interface CreationOptions {
  challenge: string;
  rp: { id?: string };
  user: { id: string };
}
interface RequestOptions {
  challenge: string;
  rpId?: string;
}
interface Ceremony {
  /** The user verified themselves (UV flag); default true. */
  userVerified?: boolean;
  /** The origin the browser reports; default the authenticator's. */
  origin?: string;
  /** The RP id the authenticator signs for; default the options'. */
  rpId?: string;
}

export class SoftAuthenticator {
  readonly credentialId = randomBytes(16);
  private readonly privateKey: KeyObject;
  private readonly publicJwk: { x: string; y: string };
  /** The signature counter: raised before each assertion, as an authenticator does. */
  counter = 0;
  /** The user handle it stored at registration (returned by a discoverable sign-in). */
  userHandle: string | undefined;

  constructor(readonly origin: string) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    this.publicJwk = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  }

  get id(): string {
    return b64u(this.credentialId);
  }

  /** A copy holding the same key (a cloned authenticator), with its own counter. */
  clone(): SoftAuthenticator {
    const copy = Object.create(SoftAuthenticator.prototype) as SoftAuthenticator;
    Object.assign(copy, this);
    return copy;
  }

  private authData(rpId: string, flags: number, attested?: Uint8Array): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** A RegistrationResponseJSON for `options` (the server's creation options). */
  register(options: CreationOptions, c: Ceremony = {}) {
    const rpId = c.rpId ?? options.rp.id ?? new URL(this.origin).hostname;
    this.userHandle = options.user.id;
    // COSE_Key: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
    const coseKey = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, new Uint8Array(Buffer.from(this.publicJwk.x, 'base64url'))],
        [-3, new Uint8Array(Buffer.from(this.publicJwk.y, 'base64url'))],
      ]),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLength, this.credentialId, coseKey]);
    const flags = FLAG_UP | FLAG_AT | (c.userVerified === false ? 0 : FLAG_UV);
    const authData = this.authData(rpId, flags, attested);
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Map<string, never> | Uint8Array>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, never>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      clientExtensionResults: {},
      authenticatorAttachment: 'platform' as const,
      response: {
        clientDataJSON: b64u(this.clientData('webauthn.create', options.challenge, c.origin ?? this.origin)),
        attestationObject: b64u(attestationObject),
        transports: ['internal' as const],
      },
    };
  }

  /** An AuthenticationResponseJSON for `options` (the server's request options); raises the counter first. */
  authenticate(options: RequestOptions, c: Ceremony & { counter?: number } = {}) {
    const rpId = c.rpId ?? options.rpId ?? new URL(this.origin).hostname;
    this.counter = c.counter ?? this.counter + 1;
    const authData = this.authData(rpId, FLAG_UP | (c.userVerified === false ? 0 : FLAG_UV));
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, c.origin ?? this.origin);
    const signature = createSign('sha256')
      .update(Buffer.concat([authData, sha256(clientDataJSON)]))
      .sign(this.privateKey); // DER, as WebAuthn's ES256 signatures are
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      clientExtensionResults: {},
      authenticatorAttachment: 'platform' as const,
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        ...(this.userHandle ? { userHandle: this.userHandle } : {}),
      },
    };
  }
}
