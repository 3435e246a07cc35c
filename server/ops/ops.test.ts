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
