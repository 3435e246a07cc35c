/** Proofs are dated on the server's clock as learnt from its Date headers. */
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { dpopProof, publicMembers, ServerClock, serverClock, socketProof, STALE_SHIFT_MS, type ProofKey } from './proofs.js';

const T0 = Date.UTC(2026, 0, 31, 12, 0, 0);

/** A local clock that reads what the test says. */
function localClock(start: number) {
  let t = start;
  return { now: () => t, set: (ms: number) => (t = ms) };
}

async function newKey(): Promise<ProofKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  return { privateKey, publicJwk: publicMembers(await exportJWK(publicKey)) };
}

describe('ServerClock', () => {
  it('starts at the local clock and learns the offset from a Date header (middle of its second)', () => {
    const local = localClock(T0 + 5 * 60_000); // 5 minutes fast
    const clock = new ServerClock(local.now);
    expect(clock.offset).toBe(0);
    expect(clock.now()).toBe(T0 + 5 * 60_000);
    expect(clock.observe(new Date(T0).toUTCString())).toBe(true);
    expect(clock.offset).toBe(-5 * 60_000 + 500);
    expect(Math.abs(clock.now() - T0)).toBeLessThanOrEqual(1_000);
  });

  it('ignores a move within the header resolution and a missing or unreadable header', () => {
    const local = localClock(T0);
    const clock = new ServerClock(local.now);
    expect(clock.observe(new Date(T0 + 1_000).toUTCString())).toBe(false);
    expect(clock.observe(null)).toBe(false);
    expect(clock.observe('not a date')).toBe(false);
    expect(clock.offset).toBe(0);
    expect(clock.observe(new Date(T0 - 90_000).toUTCString())).toBe(true);
    expect(clock.offset).toBe(-89_500);
  });

  it('movedSince: a shift of STALE_SHIFT_MS or more since a proof was signed', () => {
    const clock = new ServerClock(localClock(T0).now);
    const before = clock.offset;
    clock.setOffset(STALE_SHIFT_MS - 1);
    expect(clock.movedSince(before)).toBe(false);
    clock.setOffset(-STALE_SHIFT_MS);
    expect(clock.movedSince(before)).toBe(true);
  });

  it('dates DPoP and socket proofs on the clock given, else the shared one (serverClock)', async () => {
    const key = await newKey();
    const clock = new ServerClock(() => T0);
    clock.setOffset(-120_000);
    const dpop = await dpopProof(key, 'POST', 'https://chat.example/api/auth/token?x=1', clock);
    expect(decodeJwt(dpop)).toMatchObject({ htm: 'POST', htu: 'https://chat.example/api/auth/token', iat: (T0 - 120_000) / 1000 });
    expect(decodeProtectedHeader(dpop)).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256' });
    expect(decodeJwt(await socketProof(key, 'n1', 'tok', clock)).iat).toBe((T0 - 120_000) / 1000);

    try {
      serverClock.setOffset(10 * 60_000);
      expect(serverClock.offset).toBe(10 * 60_000);
      const iat = decodeJwt(await dpopProof(key, 'GET', 'https://chat.example/api/x')).iat!;
      expect(Math.abs(iat - (Date.now() + 10 * 60_000) / 1000)).toBeLessThan(5);
    } finally {
      serverClock.setOffset(0);
    }
  });
});
