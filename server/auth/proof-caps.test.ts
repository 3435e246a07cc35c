/**
 * Bounded per-instance state that one client could otherwise fill for everyone, on the real
 * server with its caps lowered through the environment:
 * - DPoP proofs per device key per replay window (DPOP_PROOFS_PER_DEVICE): past it, that device's
 *   requests are 429 rate_limited with Retry-After; another device, of the same user or not, is
 *   unaffected. In memory and on Redis alike.
 * - Passkey ceremonies held in memory (PASSKEY_CEREMONIES_MAX): past it the oldest is forgotten
 *   (its sign-in fails as expired) and new ones still start, never a 503.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PASSWORD, HttpClient, startTestServer, type HttpResult, type TestServer } from '../test/harness.js';
import { deviceKey, proving } from '../test/pop.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { SoftAuthenticator } from '../test/webauthn-authenticator.js';

const PER_DEVICE = 5;

function expectRateLimited(res: HttpResult) {
  expect(res.status).toBe(429);
  expect(res.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(130);
}

function proofCapSuite(name: string, env: () => Promise<{ env: Record<string, string>; done?: () => Promise<void> }>) {
  describe(name, () => {
    let server: TestServer;
    let done: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      const setup = await env();
      done = setup.done;
      server = await startTestServer({ env: { ...setup.env, DPOP_PROOFS_PER_DEVICE: String(PER_DEVICE) } });
    });
    afterAll(async () => {
      await server?.close();
      await done?.();
    });

    it('a device past its proofs per window gets 429 with Retry-After; another device of the same user and an unbound one are unaffected', async () => {
      const flooderKey = await deviceKey();
      const flooder = proving(await server.register('capann', undefined, { deviceKey: flooderKey.publicJwk }), flooderKey);
      const otherKey = await deviceKey();
      const other = proving(await server.login('capann', undefined, { deviceKey: otherKey.publicJwk }), otherKey);
      const unbound = await server.register('capben');

      for (let i = 0; i < PER_DEVICE; i++) expect((await flooder.get('/api/auth/me')).status, `proof ${i}`).toBe(200);
      expectRateLimited(await flooder.get('/api/auth/me'));
      expectRateLimited(await flooder.post('/api/auth/token'));
      // Its session stays: refused for the rate, not signed out.
      const row = await server.ctx.pool.query('SELECT revoked_at FROM devices WHERE id = $1', [flooder.deviceId]);
      expect(row.rows[0].revoked_at).toBeNull();

      for (let i = 0; i < PER_DEVICE; i++) expect((await other.get('/api/auth/me')).status, `other device ${i}`).toBe(200);
      expect((await unbound.get('/api/auth/me')).status).toBe(200);
    });

    it('a bad proof from a device at its cap is still refused as a bad proof (a copy cannot pass as the rate)', async () => {
      const key = await deviceKey();
      const dev = proving(await server.register('capcid', undefined, { deviceKey: key.publicJwk }), key);
      const bare = new HttpClient(dev.baseUrl);
      for (const [k, v] of dev.cookies) bare.cookies.set(k, v);
      for (let i = 0; i < 3; i++) expect((await bare.get('/api/auth/me')).body.error.code).toBe('invalid_proof');
      // Refused proofs spent nothing of the device's budget.
      for (let i = 0; i < PER_DEVICE; i++) expect((await dev.get('/api/auth/me')).status, `proof ${i}`).toBe(200);
      expectRateLimited(await dev.get('/api/auth/me'));
    });

    it('replays of one captured proof are refused and spend nothing of its device\'s budget', async () => {
      const key = await deviceKey();
      const dev = await server.register('capdee', undefined, { deviceKey: key.publicJwk });
      const captured = await key.dpop(`${server.url}/api/auth/me`, { htm: 'GET' });
      expect((await dev.get('/api/auth/me', { dpop: captured })).status).toBe(200);
      for (let i = 0; i < PER_DEVICE * 3; i++) expect((await dev.get('/api/auth/me', { dpop: captured })).body.error.code, `replay ${i}`).toBe('invalid_proof');
      proving(dev, key);
      for (let i = 0; i < PER_DEVICE - 1; i++) expect((await dev.get('/api/auth/me')).status, `proof ${i}`).toBe(200);
      expectRateLimited(await dev.get('/api/auth/me'));
    });
  });
}

proofCapSuite('DPoP proofs per device, in memory', async () => ({ env: {} }));

let redis: TestRedis | undefined;
proofCapSuite('DPoP proofs per device, on Redis', async () => {
  redis = await startRedis();
  return { env: { REDIS_URL: redis.url }, done: () => redis!.stop() };
});

describe('passkey ceremonies held in memory', () => {
  let server: TestServer;
  let local: string;
  beforeAll(async () => {
    server = await startTestServer({ env: { PASSKEY_CEREMONIES_MAX: '2' } });
    local = server.url.replace('127.0.0.1', 'localhost');
  });
  afterAll(() => server?.close());

  it('past the cap the oldest ceremony is forgotten (its sign-in fails as expired); new ones start and the newest signs in', async () => {
    const ann = new HttpClient(local);
    const registered = await ann.post('/api/auth/register', { username: 'ceremann', password: DEFAULT_PASSWORD });
    expect(registered.status).toBe(201);
    const authenticator = new SoftAuthenticator(local);
    const regOptions = await ann.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    expect(regOptions.status).toBe(200);
    expect((await ann.post('/api/auth/passkeys', { response: authenticator.register(regOptions.body) })).status).toBe(201);

    const browsers = [new HttpClient(local), new HttpClient(local), new HttpClient(local), new HttpClient(local)];
    const options: unknown[] = [];
    for (const b of browsers) {
      const res = await b.post('/api/auth/passkey/options');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      options.push(res.body);
    }
    const signIn = (i: number) =>
      browsers[i]!.post('/api/auth/passkey/login', { response: authenticator.authenticate(options[i] as Parameters<SoftAuthenticator['authenticate']>[0]) });
    const oldest = await signIn(0);
    expect(oldest.status).toBe(401);
    expect(oldest.body.error.code).toBe('invalid_credentials');
    expect(oldest.body.error.message).toMatch(/expired/);
    const newest = await signIn(3);
    expect(newest.status, JSON.stringify(newest.body)).toBe(200);
    expect(newest.body.user.username).toBe('ceremann');
  });
});
