/**
 * /healthz, /readyz and /metrics (CONTRACT "HTTP" and v2 "METRICS_TOKEN": with a token, /metrics
 * needs it as a Bearer header; without one, only loopback clients after TRUST_PROXY).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { startTestServer, type TestServer } from '../test/harness.js';

describe('operations endpoints', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('healthz answers ok while the process runs', async () => {
    const res = await server.client().get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('readyz answers ok when Postgres answers', async () => {
    const res = await server.client().get('/readyz');
    expect(res.status).toBe(200);
  });

  it('metrics are in Prometheus text format and count logins by outcome', async () => {
    const alice = await server.register('opsalice');
    await server.client().post('/api/auth/login', { username: 'opsalice', password: 'wrong password!' });
    await server.login('opsalice');
    const res = await alice.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(res.body).toMatch(/relay_logins_total\{outcome="invalid_credentials"\} 1/);
    expect(res.body).toMatch(/relay_logins_total\{outcome="success"\} 1/);
    expect(res.body).toMatch(/relay_tokens_issued_total 2/);
  });
});

describe('readyz with Redis', () => {
  let server: TestServer;
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
    server = await startTestServer({ env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it('names redis as failing when it is down, and recovers when it is back', async () => {
    expect((await server.client().get('/readyz')).status).toBe(200);
    await redis.stop();
    const started = Date.now();
    const down = await server.client().get('/readyz');
    expect(down.status).toBe(503);
    expect(down.body).toEqual({ status: 'unavailable', failing: ['redis'] });
    expect(Date.now() - started).toBeLessThan(10_000); // each check gets 2 s: a ceiling on a hang, with room for load
    await redis.restart();
    await expect.poll(async () => (await server.client().get('/readyz')).status, { timeout: 10_000 }).toBe(200);
  });
});

describe('metrics behind METRICS_TOKEN', () => {
  const token = randomBytes(24).toString('base64url');
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { METRICS_TOKEN: token } });
  });
  afterAll(() => server?.close());

  it('answers the right Bearer token only; a missing or wrong one is 401, a query parameter is no token', async () => {
    const ok = await server.client().get('/metrics', { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(/relay_logins_total/);
    const refused: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${token}x` },
      { authorization: `Bearer ${token.slice(0, -1)}` },
      { authorization: 'Bearer ' },
      { authorization: `Basic ${Buffer.from(`metrics:${token}`).toString('base64')}` },
      { authorization: token },
    ];
    for (const headers of refused) {
      const res = await server.client().get('/metrics', headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.body).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect((await server.client().get(`/metrics?token=${token}`)).status).toBe(401);
    expect((await server.client().get(`/metrics?access_token=${token}`)).status).toBe(401);
  });

  it('never writes the token to the logs', async () => {
    await server.client().get('/metrics', { authorization: `Bearer ${token}` });
    await server.client().get('/metrics', { authorization: 'Bearer wrong' });
    expect(server.logs.join('')).not.toContain(token);
    expect(server.logs.join('')).not.toContain(token.slice(0, 12));
  });
});

describe('metrics without METRICS_TOKEN', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: 'loopback', METRICS_TOKEN: undefined } });
  });
  afterAll(() => server?.close());

  it('answers loopback clients only: a client named by a trusted proxy is 403', async () => {
    expect((await server.client().get('/metrics')).status).toBe(200);
    for (const address of ['203.0.113.5', '10.0.0.8', '2001:db8::5']) {
      const res = await server.client().get('/metrics', { 'x-forwarded-for': address });
      expect(res.status, address).toBe(403);
      expect(res.body).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
    }
    // A client on this host behind the same proxy is still loopback.
    expect((await server.client().get('/metrics', { 'x-forwarded-for': '127.0.0.2' })).status).toBe(200);
    expect((await server.client().get('/metrics', { 'x-forwarded-for': '::1' })).status).toBe(200);
  });
});
