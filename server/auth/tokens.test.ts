/**
 * The device token (CONTRACT "The device token"): its claims, the pinned verifier, secret
 * rotation and the fingerprint binding. Tokens come from real logins against a real server; the
 * forgeries are signed by hand with jsonwebtoken and node:crypto.
 */
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINGERPRINT_COOKIE, hashFingerprint } from './fingerprint.js';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TOKEN_TYP } from './tokens.js';
import { DEFAULT_PASSWORD, startTestServer, testSecret, type HttpClient, type TestServer } from '../test/harness.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function parts(token: string) {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>,
    signature: s,
  };
}

describe('device tokens', () => {
  let server: TestServer;
  let alice: HttpClient;
  let bob: HttpClient;
  let fp: string;
  let secret: string;

  /** Signs `payload` with the server's real secret; overrides change one thing at a time. */
  function forge(
    overrides: { payload?: Record<string, unknown>; header?: Record<string, unknown>; key?: jwt.Secret; algorithm?: jwt.Algorithm } = {},
  ): string {
    const { header, payload } = parts(alice.token);
    const algorithm = overrides.algorithm ?? 'HS256';
    return jwt.sign({ ...payload, ...overrides.payload }, overrides.key ?? Buffer.from(secret), {
      algorithm,
      header: { ...header, alg: algorithm, ...overrides.header } as jwt.JwtHeader,
    });
  }

  beforeAll(async () => {
    server = await startTestServer();
    secret = server.env.JWT_SECRET;
    alice = await server.register('alice');
    bob = await server.register('bob');
    fp = alice.cookies.get(FINGERPRINT_COOKIE)!;
  });
  afterAll(() => server?.close());

  it('carries sub, did, jti, iat, exp, iss, aud and the fingerprint hash; header typ and kid', () => {
    const { header, payload } = parts(alice.token);
    expect(header).toEqual({ alg: 'HS256', typ: TOKEN_TYP, kid: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(header.kid).toBe(createHash('sha256').update(secret).digest('hex').slice(0, 16));
    expect(payload).toEqual({
      sub: alice.userId,
      did: alice.deviceId,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      fph: hashFingerprint(fp),
      iat: expect.any(Number),
      exp: expect.any(Number),
      iss: TOKEN_ISSUER,
      aud: TOKEN_AUDIENCE,
    });
    expect((payload.exp as number) - (payload.iat as number)).toBe(15 * 60);
    expect(new Date((payload.exp as number) * 1000).toISOString()).toBe(alice.auth.expiresAt);
  });

  it('gives every token its own jti', async () => {
    const a = await alice.post('/api/auth/token');
    const b = await alice.post('/api/auth/token');
    expect(parts(a.body.token).payload.jti).not.toBe(parts(b.body.token).payload.jti);
  });

  it('verifies a genuine token with its fingerprint cookie', async () => {
    const v = await server.ctx.tokens.verify(alice.token, fp);
    expect(v).toMatchObject({ ok: true, identity: { deviceId: alice.deviceId, user: { id: alice.userId, username: 'alice' } } });
    // Control for the forgeries below: re-signing the same claims the same way passes.
    expect((await server.ctx.tokens.verify(forge(), fp)).ok).toBe(true);
  });

  it('refuses a token whose payload was tampered with', async () => {
    const { header, payload, signature } = parts(alice.token);
    const tampered = `${b64(header)}.${b64({ ...payload, sub: bob.userId })}.${signature}`;
    expect(server.ctx.tokens.verifySignature(tampered)).toEqual({ ok: false, reason: 'invalid_token' });
    const longer = `${b64(header)}.${b64({ ...payload, exp: (payload.exp as number) + 86_400 })}.${signature}`;
    expect(await server.ctx.tokens.verify(longer, fp)).toEqual({ ok: false, reason: 'invalid_token' });
  });

  it('refuses alg none, HS512 and RS256 tokens even with valid-looking claims', async () => {
    const { header, payload } = parts(alice.token);
    const none = `${b64({ ...header, alg: 'none' })}.${b64(payload)}.`;
    const hs512 = forge({ algorithm: 'HS512' });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs256 = forge({ algorithm: 'RS256', key: privateKey });
    // Algorithm confusion: HS256 keyed with a public key the attacker knows.
    const confused = forge({ key: publicKey.export({ type: 'spki', format: 'pem' }) as string });
    for (const [name, token] of Object.entries({ none, hs512, rs256, confused })) {
      expect(server.ctx.tokens.verifySignature(token), name).toEqual({ ok: false, reason: 'invalid_token' });
      expect(await server.ctx.tokens.verify(token, fp), name).toEqual({ ok: false, reason: 'invalid_token' });
    }
  });

  it('refuses a wrong aud, iss or typ, a missing or unknown kid, and malformed claims', async () => {
    const cases: Record<string, string> = {
      aud: forge({ payload: { aud: 'someone-else' } }),
      iss: forge({ payload: { iss: 'evil' } }),
      typ: forge({ header: { typ: 'JWT' } }),
      noKid: forge({ header: { kid: undefined } }),
      unknownKid: forge({ header: { kid: '0000000000000000' } }),
      noDid: forge({ payload: { did: undefined } }),
      numericSub: forge({ payload: { sub: 42 } }),
      garbage: 'not.a.token',
      empty: '',
      huge: `${'a'.repeat(5000)}.b.c`,
    };
    for (const [name, token] of Object.entries(cases)) {
      expect(await server.ctx.tokens.verify(token, fp), name).toEqual({ ok: false, reason: 'invalid_token' });
    }
  });

  it('refuses a genuine signature whose did belongs to another user', async () => {
    const crossed = forge({ payload: { sub: bob.userId } });
    expect(server.ctx.tokens.verifySignature(crossed).ok).toBe(true);
    expect(await server.ctx.tokens.verify(crossed, fp)).toEqual({ ok: false, reason: 'invalid_token' });
    const unknownDevice = forge({ payload: { did: randomUUID() } });
    expect(await server.ctx.tokens.verify(unknownDevice, fp)).toEqual({ ok: false, reason: 'invalid_token' });
  });

  it('answers each of many devices asked about at once with its own state, in one database read', async () => {
    const carol = await server.register('carol');
    const carolLaptop = await server.login('carol');
    expect((await carol.post(`/api/devices/${carolLaptop.deviceId}/revoke`)).status).toBe(200);
    const dave = await server.register('dave');
    expect((await alice.post(`/api/admin/users/${dave.userId}/disable`)).status).toBe(200);

    const pool = server.ctx.pool;
    const realQuery = pool.query.bind(pool);
    let reads = 0;
    pool.query = ((config: unknown, ...rest: unknown[]) => {
      if ((config as { name?: string } | null)?.name === 'relay_device_status') reads += 1;
      return (realQuery as (...a: unknown[]) => unknown)(config, ...rest);
    }) as typeof pool.query;
    try {
      const answers = await Promise.all([
        server.ctx.tokens.deviceStatus(carol.deviceId),
        server.ctx.tokens.deviceStatus(carolLaptop.deviceId),
        server.ctx.tokens.deviceStatus(dave.deviceId),
        server.ctx.tokens.deviceStatus(randomUUID()),
        server.ctx.tokens.deviceStatus(bob.deviceId.toUpperCase(), bob.userId),
        server.ctx.tokens.deviceStatus(bob.deviceId, alice.userId),
      ]);
      expect(answers.map((a) => (a.ok ? a.identity.user.username : a.reason))).toEqual([
        'carol',
        'device_revoked',
        'account_disabled',
        'invalid_token',
        'bob',
        'invalid_token',
      ]);
      expect(reads).toBe(1);
    } finally {
      pool.query = realQuery;
    }
  });

  it('is useless without its own fingerprint cookie', async () => {
    expect(await server.ctx.tokens.verify(alice.token, undefined)).toEqual({ ok: false, reason: 'invalid_token' });
    expect(await server.ctx.tokens.verify(alice.token, '')).toEqual({ ok: false, reason: 'invalid_token' });
    expect(await server.ctx.tokens.verify(alice.token, `${fp}x`)).toEqual({ ok: false, reason: 'invalid_token' });
    expect(await server.ctx.tokens.verify(alice.token, bob.cookies.get(FINGERPRINT_COOKIE))).toEqual({
      ok: false,
      reason: 'invalid_token',
    });
    // A second login of the same user is a different device with a different fingerprint.
    const other = await server.login('alice');
    expect(await server.ctx.tokens.verify(alice.token, other.cookies.get(FINGERPRINT_COOKIE))).toEqual({
      ok: false,
      reason: 'invalid_token',
    });
    expect((await server.ctx.tokens.verify(other.token, other.cookies.get(FINGERPRINT_COOKIE))).ok).toBe(true);
  });
});

describe('token expiry', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { TOKEN_TTL: '2s' } });
  });
  afterAll(() => server?.close());

  it('expires after TOKEN_TTL with reason token_expired', async () => {
    const c = await server.register('shortlived');
    const { payload } = parts(c.token);
    expect((payload.exp as number) - (payload.iat as number)).toBe(2);
    await expect
      .poll(() => server.ctx.tokens.verifySignature(c.token), { timeout: 8_000, interval: 200 })
      .toEqual({ ok: false, reason: 'token_expired' });
    expect(await server.ctx.tokens.verify(c.token, c.cookies.get(FINGERPRINT_COOKIE))).toEqual({
      ok: false,
      reason: 'token_expired',
    });
    // The session is still good for a fresh token.
    const fresh = await c.post('/api/auth/token');
    expect(fresh.status).toBe(200);
    expect((await server.ctx.tokens.verify(fresh.body.token, c.cookies.get(FINGERPRINT_COOKIE))).ok).toBe(true);
  });
});

describe('JWT_SECRET rotation', () => {
  const oldSecret = testSecret();
  const newSecret = testSecret();
  const sessionSecret = testSecret();
  const kid = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
  let server: TestServer;
  afterAll(() => server?.close());

  async function restart(jwtSecret: string) {
    const databaseUrl = server?.env.DATABASE_URL;
    await server?.close();
    server = await startTestServer({ databaseUrl, env: { JWT_SECRET: jwtSecret, SESSION_SECRET: sessionSecret } });
  }

  it('verifies tokens of a previous secret while it is listed, signs with the first, and refuses them once removed', async () => {
    await restart(oldSecret);
    const before = await server.register('rotator');
    const fp = before.cookies.get(FINGERPRINT_COOKIE);
    expect(parts(before.token).header.kid).toBe(kid(oldSecret));

    await restart(`${newSecret},${oldSecret}`);
    expect(await server.ctx.tokens.verify(before.token, fp)).toMatchObject({ ok: true });
    const after = await server.login('rotator', DEFAULT_PASSWORD);
    expect(parts(after.token).header.kid).toBe(kid(newSecret));
    const verifiedNew = jwt.verify(after.token, Buffer.from(newSecret), { algorithms: ['HS256'] });
    expect(verifiedNew).toMatchObject({ sub: after.userId });
    expect(() => jwt.verify(after.token, Buffer.from(oldSecret), { algorithms: ['HS256'] })).toThrow();

    await restart(newSecret);
    expect(await server.ctx.tokens.verify(before.token, fp)).toEqual({ ok: false, reason: 'invalid_token' });
    expect((await server.ctx.tokens.verify(after.token, after.cookies.get(FINGERPRINT_COOKIE))).ok).toBe(true);
  });
});
