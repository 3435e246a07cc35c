/**
 * Per-user limits on searches (GET /api/search) and display-name changes (PATCH /api/me):
 * 429 rate_limited with the contract's error body and Retry-After, counted per user (another
 * user keeps their budget), nothing written by a refused rename, and counted together by every
 * instance on one Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { startTestServer, type HttpClient, type HttpResult, type TestServer } from '../test/harness.js';

function expectRateLimited(res: HttpResult) {
  expect(res.status).toBe(429);
  expect(res.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(15 * 60);
}

const search = (who: HttpClient, q: string) => who.get(`/api/search?${new URLSearchParams({ q })}`);

describe('search and rename limits per user, in memory', () => {
  let server: TestServer;
  let ann: HttpClient;
  let ben: HttpClient;
  beforeAll(async () => {
    server = await startTestServer({ env: { SEARCH_RATE_LIMIT: '3', RENAME_RATE_LIMIT: '2' } });
    ann = await server.register('limitann');
    ben = await server.register('limitben');
  });
  afterAll(() => server?.close());

  it('answers a search past the limit with 429 and Retry-After; another user still searches', async () => {
    for (let i = 0; i < 3; i++) expect((await search(ann, `word${i}`)).status).toBe(200);
    expectRateLimited(await search(ann, 'word3'));
    expect((await search(ben, 'word')).status).toBe(200);
  });

  it('answers a rename past the limit with 429 and Retry-After, and keeps the name it had', async () => {
    expect((await ann.patch('/api/me', { displayName: 'Ann One' })).status).toBe(200);
    expect((await ann.patch('/api/me', { displayName: 'Ann Two' })).status).toBe(200);
    expectRateLimited(await ann.patch('/api/me', { displayName: 'Ann Three' }));
    expect((await ann.get('/api/auth/me')).body.user.displayName).toBe('Ann Two');
    const audited = await server.ctx.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'user.display_name' AND target_id = $1`, [
      ann.userId,
    ]);
    expect(audited.rows[0].n).toBe(2);
    // The search budget is its own: renames did not use it, nor the other way round.
    expect((await ben.patch('/api/me', { displayName: 'Ben' })).status).toBe(200);
  });
});

describe('search and rename limits shared through Redis', () => {
  let redis: TestRedis;
  let a: TestServer;
  let b: TestServer;
  let onA: HttpClient;
  let onB: HttpClient;
  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, SEARCH_RATE_LIMIT: '4', RENAME_RATE_LIMIT: '2' };
    a = await startTestServer({ env });
    b = await startTestServer({ databaseUrl: a.env.DATABASE_URL, env });
    await a.register('sharedlimit');
    onA = await a.login('sharedlimit');
    onB = await b.login('sharedlimit');
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('counts one user’s searches and renames on two instances together', async () => {
    expect((await search(onA, 'x')).status).toBe(200);
    expect((await search(onB, 'x')).status).toBe(200);
    expect((await search(onA, 'x')).status).toBe(200);
    expect((await search(onB, 'x')).status).toBe(200);
    expectRateLimited(await search(onA, 'x'));
    expectRateLimited(await search(onB, 'x'));

    expect((await onA.patch('/api/me', { displayName: 'First' })).status).toBe(200);
    expect((await onB.patch('/api/me', { displayName: 'Second' })).status).toBe(200);
    expectRateLimited(await onA.patch('/api/me', { displayName: 'Third' }));
    expect((await onB.get('/api/auth/me')).body.user.displayName).toBe('Second');
    expect((await a.ctx.redis!.keys('relay:rl:search:user:*')).length).toBeGreaterThan(0);
    expect((await a.ctx.redis!.keys('relay:rl:rename:user:*')).length).toBeGreaterThan(0);
  });
});
