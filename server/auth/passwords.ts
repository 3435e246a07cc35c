/**
 * Password hashing: argon2id at OWASP's minimum (m=19456 KiB, t=2, p=1), computed on libuv's
 * thread pool by @node-rs/argon2, never on the event loop.
 *
 * Guarantee: checking an unknown user costs the same as checking a wrong password, because both
 * run one argon2 verify (the unknown user against a dummy hash made at start-up).
 */
import { hash, verify, type Algorithm } from '@node-rs/argon2';

// Algorithm.Argon2id is a const enum (2), which isolatedModules cannot read.
const OPTIONS = { algorithm: 2 as Algorithm, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

let dummyHash: Promise<string> | undefined;

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

/** True when `password` matches `passwordHash`; an absent hash is checked against a dummy. */
export async function checkPassword(passwordHash: string | null | undefined, password: string): Promise<boolean> {
  if (!passwordHash) {
    dummyHash ??= hashPassword('dummy-password-for-timing');
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}
