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

  it('MSG7: the other members get channel_updated when someone joins, is added or leaves', async () => {
    const carol = await server.register('edgecarol');
    const dave = await server.register('edgedave');
    const a = await connect(server.url, alice);
    const c = await connect(server.url, carol);
    expect((await carol.post(`/api/channels/${general}/join`)).status).toBe(200);
    const joined = await a.next('channel_updated');
    expect(joined.channel.id).toBe(general);
    expect(joined.channel.memberIds).toContain(carol.userId);
    expect((await c.next('channel_added')).channel.id).toBe(general);

    expect((await bob.post(`/api/channels/${secret}/members`, { userId: dave.userId })).status).toBe(200);
    // alice is not in the private channel: she hears nothing of it.
    expect((await carol.post(`/api/channels/${general}/leave`)).status).toBe(200);
    const left = await a.next('channel_updated');
    expect(left.channel.id).toBe(general);
    expect(left.channel.memberIds).not.toContain(carol.userId);
    expect(a.all('channel_updated').map((f) => f.channel.id)).toEqual([general, general]);
    expect((await c.next('channel_removed')).channelId).toBe(general);
    expect(c.all('channel_updated')).toEqual([]);
    a.close();
    c.close();
  });
});
