/** Edge cases found in review, each pinned to its rule. Real sockets, real Postgres. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { connect, openSocket } from '../test/ws-client.js';

describe('protocol edges', () => {
  let server: TestServer;
  let alice: HttpClient;
  let bob: HttpClient;
  let general: string;
  let secret: string;

  beforeAll(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: 'loopback' } });
    alice = await server.register('edgealice');
    bob = await server.register('edgebob');
    general = (await alice.post('/api/channels', { name: 'edge-general', kind: 'public' })).body.channel.id;
    await bob.post(`/api/channels/${general}/join`);
    secret = (await bob.post('/api/channels', { name: 'edge-secret', kind: 'private' })).body.channel.id;
  });
  afterAll(() => server?.close());

  it('MSG2: a clientMsgId reused for another channel is invalid_message, not an ack of the first message', async () => {
    const a = await connect(server.url, alice);
    a.send({ type: 'send', channelId: general, clientMsgId: 'reused-1', body: 'first' });
    const ack = await a.next('ack');
    expect(ack.message.channelId).toBe(general);
    a.send({ type: 'send', channelId: secret, clientMsgId: 'reused-1', body: 'into a channel alice is not in', ref: 'r2' });
    const err = await a.next('error');
    expect(err).toMatchObject({ code: 'invalid_message', ref: 'r2' });
    const { rows } = await server.ctx.pool.query('SELECT count(*)::int AS n FROM messages WHERE channel_id = $1', [secret]);
    expect(rows[0].n).toBe(0);
    a.close();
  });

  it('MSG6/SUB4: an upper-case channel id unsubscribes the channel subscribed in lower case', async () => {
    const a = await connect(server.url, alice);
    const b = await connect(server.url, bob);
    b.send({ type: 'subscribe', channelId: general });
    await b.next('subscribed');
    b.send({ type: 'unsubscribe', channelId: general.toUpperCase() });
    expect((await b.next('unsubscribed')).channelId).toBe(general);
    a.send({ type: 'send', channelId: general, clientMsgId: 'after-unsub', body: 'hello?' });
    await a.next('ack');
    // A ping round trip after the send: had the message been delivered, it would precede the pong.
    b.send({ type: 'ping' });
    await b.next('pong');
    expect(b.all('message')).toEqual([]);
    a.close();
    b.close();
  });

  it('AUTH1: the upgrade compares the whole origin: another scheme on the same host is refused', async () => {
    const https = server.url.replace(/^http:/, 'https:');
    await expect(openSocket(server.url, alice, { origin: https })).rejects.toMatchObject({ status: 403 });
    // Behind a trusted proxy that terminated TLS, the https origin is the app's own.
    const ws = await import('ws');
    const socket = new ws.default(server.url.replace(/^http/, 'ws') + '/ws', {
      headers: { origin: https, cookie: alice.cookieHeader(), 'x-forwarded-proto': 'https' },
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
    });
    socket.close();
  });

  it('AUTH8: a database that cannot be asked closes 1013 try_again_later, not 4401', async () => {
    const pool = server.ctx.pool;
    const realQuery = pool.query.bind(pool);
    // The device lookup fails as it would with Postgres unreachable; everything else works.
    pool.query = ((config: unknown, ...rest: unknown[]) =>
      typeof config === 'object' && config !== null && (config as { name?: string }).name === 'relay_device_status'
        ? Promise.reject(Object.assign(new Error('connection terminated'), { code: '57P01' }))
        : (realQuery as (...a: unknown[]) => unknown)(config, ...rest)) as typeof pool.query;
    try {
      const s = await openSocket(server.url, alice);
      s.send({ type: 'authenticate', token: alice.token });
      expect(await s.waitClose()).toEqual({ code: 1013, reason: 'try_again_later' });
    } finally {
      pool.query = realQuery;
    }
  });

  it('MSG7: the channel\'s subscribers get one members_changed per join, add and leave; the joiner gets channel_added', async () => {
    const carol = await server.register('edgecarol');
    const dave = await server.register('edgedave');
    const a = await connect(server.url, alice);
    a.send({ type: 'subscribe', channelId: general, ref: 'g' });
    await a.next('subscribed');
    const c = await connect(server.url, carol);
    expect((await carol.post(`/api/channels/${general}/join`)).status).toBe(200);
    expect(await a.next('members_changed')).toEqual({ type: 'members_changed', channelId: general, added: [carol.userId], removed: [] });
    expect((await c.next('channel_added')).channel.id).toBe(general);

    expect((await bob.post(`/api/channels/${secret}/members`, { userId: dave.userId })).status).toBe(200);
    // alice is not in the private channel: she hears nothing of it.
    expect((await carol.post(`/api/channels/${general}/leave`)).status).toBe(200);
    expect(await a.next('members_changed')).toEqual({ type: 'members_changed', channelId: general, added: [], removed: [carol.userId] });
    expect(a.all('members_changed')).toHaveLength(2);
    expect((await c.next('channel_removed')).channelId).toBe(general);
    expect(c.all('members_changed')).toEqual([]);
    a.close();
    c.close();
  });

  it('MSG7: a join publishes one event of the change\'s size, whatever the channel\'s size (v1 sent the whole list to every member)', async () => {
    // 200 members (rows, not logins: argon2 for each would only slow the test down).
    const { rows: crowd } = await server.ctx.pool.query<{ id: string }>(
      `INSERT INTO users (username, display_name, password_hash) SELECT 'crowd' || g, 'Crowd ' || g, 'x' FROM generate_series(1, 200) g RETURNING id`,
    );
    const big = (await alice.post('/api/channels', { name: 'edge-crowd', kind: 'public', memberIds: crowd.map((u) => u.id) })).body.channel.id;
    const late = await server.register('edgelate');
    // What the join publishes for the channel and its members (other tests' sockets may be
    // publishing their presence meanwhile: not counted).
    const watched = new Set([`ch:${big}`, `user:${late.userId}`, ...crowd.map((u) => `user:${u.id}`)]);
    const published: string[] = [];
    const original = server.ctx.bus.publish.bind(server.ctx.bus);
    server.ctx.bus.publish = (topic, payload) => {
      if (watched.has(topic)) published.push(payload);
      return original(topic, payload);
    };
    try {
      expect((await late.post(`/api/channels/${big}/join`)).status).toBe(200);
    } finally {
      server.ctx.bus.publish = original;
    }
    // One channel_added to the joiner (it carries the member list, once), one members_changed of
    // the change's size to the channel: nothing per member.
    expect(published).toHaveLength(2);
    const change = published.find((p) => p.includes('"members_changed"'))!;
    expect(change.length).toBeLessThan(300);
  });
});
