/**
 * Shared state one account could inflate: the channel list must keep working with more public
 * channels than Postgres accepts query parameters (65,535), and channel writes are rate limited
 * per user so one account cannot get there through the API (nor flood a channel's subscribers
 * with a join/leave loop).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test/harness.js';

describe('channels at scale', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { CHANNEL_WRITE_RATE_LIMIT: '3' } });
  });
  afterAll(() => server?.close());

  it('lists 70,000 public channels (more than 65,535 ids) without a 500', async () => {
    const alice = await server.register('scalealice');
    await server.ctx.pool.query(
      `INSERT INTO channels (name, kind) SELECT 'bulk-' || g, 'public' FROM generate_series(1, 70000) AS g`,
    );
    const res = await alice.get('/api/channels');
    expect(res.status).toBe(200);
    expect(res.body.channels).toHaveLength(70_000);
  }, 60_000);

  it('limits channel writes per user (create, add member, direct) with 429 and Retry-After', async () => {
    const bob = await server.register('scalebob');
    const carol = await server.register('scalecarol');
    const created = await bob.post('/api/channels', { name: 'bob-1', kind: 'private' });
    expect(created.status).toBe(201);
    expect((await bob.post(`/api/channels/${created.body.channel.id}/members`, { userId: carol.userId })).status).toBe(200);
    expect((await bob.post('/api/direct', { userId: carol.userId })).status).toBe(200);
    const limited = await bob.post('/api/channels', { name: 'bob-2', kind: 'public' });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const { rows } = await server.ctx.pool.query(`SELECT count(*)::int AS n FROM channels WHERE name = 'bob-2'`);
    expect(rows[0].n).toBe(0);
    // Another user's budget is their own.
    expect((await carol.post('/api/channels', { name: 'carol-1', kind: 'public' })).status).toBe(201);
  });

  it('MSG7: join and leave count against the same budget, so a join/leave loop is stopped', async () => {
    const owner = await server.register('scaleowner');
    const looper = await server.register('scalelooper');
    const pub = (await owner.post('/api/channels', { name: 'loop-target', kind: 'public' })).body.channel.id;
    expect((await looper.post(`/api/channels/${pub}/join`)).status).toBe(200);
    expect((await looper.post(`/api/channels/${pub}/leave`)).status).toBe(200);
    expect((await looper.post(`/api/channels/${pub}/join`)).status).toBe(200);
    const limited = await looper.post(`/api/channels/${pub}/leave`);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    // Refused means nothing changed: still a member.
    const { rows } = await server.ctx.pool.query('SELECT count(*)::int AS n FROM channel_members WHERE channel_id = $1 AND user_id = $2', [
      pub,
      looper.userId,
    ]);
    expect(rows[0].n).toBe(1);
  });
});
