/**
 * The device fingerprint: a random value in an HttpOnly cookie set at login. The device row and
 * every token of that device carry its SHA-256, so a token copied off the device is useless
 * without the cookie (CONTRACT "The device token").
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const FINGERPRINT_COOKIE = 'relay_fp';

export function newFingerprint(): { value: string; hash: string } {
  const value = randomBytes(32).toString('base64url');
  return { value, hash: hashFingerprint(value) };
}

export function hashFingerprint(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** Constant-time check that the cookie value hashes to the expected hash. */
export function fingerprintMatches(cookieValue: string | undefined, expectedHash: string): boolean {
  if (!cookieValue) return false;
  const a = Buffer.from(hashFingerprint(cookieValue));
  const b = Buffer.from(expectedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
