/**
 * The device key of the terminal client: an EC P-256 key pair made at login. The public JWK goes
 * to the server as `deviceKey` (the device is then bound); the private JWK is kept in the login
 * file (config-store.ts, mode 0600) and loaded, non-extractable, to sign DPoP and socket proofs
 * (shared/proofs.ts). It never leaves this machine.
 *
 * @example
 * const { privateJwk, publicJwk } = await newDeviceKey();   // at login
 * const key = await proofKeyFrom(login.deviceKey);           // later, to sign proofs
 */
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { publicMembers, type ProofKey } from '../../shared/proofs.js';
import { CliError } from './errors.js';

export async function newDeviceKey(): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  // Extractable once, here, so the private half can be written to the login file.
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  return { privateJwk, publicJwk: publicMembers(privateJwk) };
}

/** The stored private JWK as a signing key (non-extractable) and its public members. */
export async function proofKeyFrom(privateJwk: JWK): Promise<ProofKey> {
  try {
    const privateKey = await importJWK(privateJwk, 'ES256', { extractable: false });
    if (privateKey instanceof Uint8Array) throw new Error('not an EC key');
    return { privateKey, publicJwk: publicMembers(privateJwk) };
  } catch {
    throw new CliError('The stored device key is damaged; run relay login');
  }
}
