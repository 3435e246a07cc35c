/**
 * Login rate limits (CONTRACT: 429 rate_limited with Retry-After), per username and per IP, in
 * memory in single-process mode and in Redis, where every instance counts together. Failures
 * for a username throttle the address they come from; a much higher per-username ceiling stops
 * guessing spread over many addresses (CONTRACT v2, "Login throttling never lets a stranger lock
 * a user out").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { DEFAULT_PASSWORD, startTestServer, type HttpResult, type TestServer } from '../test/harness.js';

function expectRateLimited(res: HttpResult) {
  expect(res.status).toBe(429);
  expect(res.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(15 * 60);
}

const fail = (server: TestServer, username: string) => server.client().post('/api/auth/login', { username, password: 'wrong password' });
const succeed = (server: TestServer, username: string) => server.client().post('/api/auth/login', { username, password: DEFAULT_PASSWORD });
/** A login from another address, through a trusted proxy (TRUST_PROXY=loopback) that names it. */
const loginFrom = (server: TestServer, address: string, body: Record<string, unknown>) =>
  server.client().post('/api/auth/login', body, { 'x-forwarded-for': address });

describe('login rate limit per username', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { LOGIN_RATE_LIMIT_PER_USERNAME: '3' } });
    await server.register('target');
    await server.register('bystander');
  });
  afterAll(() => server?.close());

  it('answers 429 with Retry-After after repeated failures, even to the right password', async () => {
    for (let i = 0; i < 3; i++) expect((await fail(server, 'target')).status).toBe(401);
    expectRateLimited(await fail(server, 'target'));
    // Case and surrounding spaces do not make a new bucket.
    expectRateLimited(await fail(server, 'TARGET'));
    const right = await succeed(server, 'target');
    expectRateLimited(right);
    expect(right.headers.getSetCookie()).toEqual([]);
    // Another user is not locked out by it.
    expect((await succeed(server, 'bystander')).status).toBe(200);
    // The refusals are counted as a login outcome (3 above: two failures, one right password).
    const metrics = await server.client().get('/metrics');
    expect(metrics.body).toMatch(/relay_logins_total\{outcome="rate_limited"\} 3\b/);
  });

  it('does not count successful logins', async () => {
    for (let i = 0; i < 5; i++) expect((await succeed(server, 'bystander')).status).toBe(200);
  });
});

describe('login rate limit per IP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { LOGIN_RATE_LIMIT_PER_IP: '4' } });
    await server.register('someone');
  });
  afterAll(() => server?.close());

  it('answers 429 with Retry-After once one address has made too many attempts, whatever the usernames', async () => {
    for (let i = 0; i < 4; i++) expect((await fail(server, `guess${i}`)).status).toBe(401);
    expectRateLimited(await fail(server, 'guess-next'));
    expectRateLimited(await succeed(server, 'someone'));
    // Without TRUST_PROXY a forged X-Forwarded-For is not a new address.
    const spoofed = await server.client().post('/api/auth/login', { username: 'someone', password: DEFAULT_PASSWORD }, { 'x-forwarded-for': '203.0.113.9' });
    expectRateLimited(spoofed);
  });
});

describe('login rate limit shared through Redis', () => {
  let redis: TestRedis;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    redis = await startRedis();
    a = await startTestServer({ env: { REDIS_URL: redis.url, LOGIN_RATE_LIMIT_PER_USERNAME: '4' } });
    b = await startTestServer({ databaseUrl: a.env.DATABASE_URL, env: { REDIS_URL: redis.url, LOGIN_RATE_LIMIT_PER_USERNAME: '4' } });
    await a.register('shared');
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('counts failures on two instances together', async () => {
    expect((await fail(a, 'shared')).status).toBe(401);
    expect((await fail(b, 'shared')).status).toBe(401);
    expect((await fail(a, 'shared')).status).toBe(401);
    expect((await fail(b, 'shared')).status).toBe(401);
    expectRateLimited(await fail(a, 'shared'));
    expectRateLimited(await succeed(b, 'shared'));
    const keys = await a.ctx.redis!.keys('relay:rl:login:user:*');
    expect(keys.length).toBeGreaterThan(0);
  });
});

describe.each([
  { mode: 'in memory', useRedis: false },
  { mode: 'in Redis', useRedis: true },
])('login throttling by address and username, $mode', ({ useRedis }) => {
  const stranger = '203.0.113.66';
  const home = '198.51.100.7';
  let redis: TestRedis | undefined;
  let server: TestServer;
  beforeAll(async () => {
    if (useRedis) redis = await startRedis();
    server = await startTestServer({
      env: {
        REDIS_URL: redis?.url,
        TRUST_PROXY: 'loopback',
        LOGIN_RATE_LIMIT_PER_USERNAME: '3',
        LOGIN_RATE_LIMIT_PER_USERNAME_GLOBAL: '8',
      },
    });
    for (const name of ['victim', 'careless', 'crowded']) await server.register(name);
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it("a stranger's failures throttle the stranger's address, not the user's right password from another", async () => {
    for (let i = 0; i < 3; i++) expect((await loginFrom(server, stranger, { username: 'victim', password: 'wrong password' })).status).toBe(401);
    expectRateLimited(await loginFrom(server, stranger, { username: 'victim', password: 'wrong password' }));
    // From the throttled address even the right password is refused, and signs nobody in.
    const right = await loginFrom(server, stranger, { username: 'victim', password: DEFAULT_PASSWORD });
    expectRateLimited(right);
    expect(right.headers.getSetCookie()).toEqual([]);
    // The user, from their own address, is not locked out.
    const user = await loginFrom(server, home, { username: 'victim', password: DEFAULT_PASSWORD });
    expect(user.status).toBe(200);
    expect(user.body.user.username).toBe('victim');
  });

  it('does not count requests that fail validation against the username', async () => {
    for (const body of [
      { username: 'careless', password: 'short' },
      { username: 'careless' },
      { username: 'careless', password: 'wrong password', extra: true },
    ]) {
      for (let i = 0; i < 2; i++) expect((await loginFrom(server, stranger, body)).status).toBe(400);
    }
    expect((await loginFrom(server, stranger, { username: 'careless', password: DEFAULT_PASSWORD })).status).toBe(200);
  });

  it('stops guessing spread over many addresses at the per-username ceiling', async () => {
    const wrong = { username: 'crowded', password: 'wrong password' };
    for (const address of ['192.0.2.1', '192.0.2.2']) {
      for (let i = 0; i < 3; i++) expect((await loginFrom(server, address, wrong)).status).toBe(401);
    }
    for (let i = 0; i < 2; i++) expect((await loginFrom(server, '192.0.2.3', wrong)).status).toBe(401);
    // The ninth failure for the username, from an address that is still under its own limit.
    expectRateLimited(await loginFrom(server, '192.0.2.3', wrong));
    expectRateLimited(await loginFrom(server, '192.0.2.4', { username: 'crowded', password: DEFAULT_PASSWORD }));
  });
});
