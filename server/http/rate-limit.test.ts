/**
 * Login rate limits (CONTRACT: 429 rate_limited with Retry-After), per username and per IP, in
 * memory in single-process mode and in Redis, where every instance counts together.
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
