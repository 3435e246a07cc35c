/**
 * Defects found in review, each pinned to its SPEC rule. Real sockets, real Postgres, real Redis.
 * Where a database call is slowed down, it still runs against the real database: the delay only
 * widens a window that exists anyway under load.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { delayQuery } from '../test/query-delay.js';
import { startInstancePair } from '../test/instance-pair.js';
import { connect } from '../test/ws-client.js';

describe('one instance', () => {
  let server: TestServer;
  let alice: HttpClient;
  let general: string;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await server.register('hardalice');
    general = (await alice.post('/api/channels', { name: 'hard-general', kind: 'public' })).body.channel.id;
  });
  afterAll(() => server?.close());

  it('MSG2: clientMsgIds that differ only in a lone surrogate are refused, not merged into one message', async () => {
    // Postgres stores text as UTF-8, where a lone surrogate becomes U+FFFD: both ids would be
    // stored as the same key, and the second message acked as a "retry" of the first, i.e. lost.
    const a = await connect(server.url, alice);
    a.send({ type: 'send', channelId: general, clientMsgId: 'lone-\ud800', body: 'first', ref: 'r1' });
    expect(await a.next()).toMatchObject({ type: 'error', code: 'invalid_message', ref: 'r1' });
    a.send({ type: 'send', channelId: general, clientMsgId: 'lone-\ud801', body: 'second', ref: 'r2' });
    expect(await a.next()).toMatchObject({ type: 'error', code: 'invalid_message', ref: 'r2' });
    const { rows } = await server.ctx.pool.query(`SELECT count(*)::int AS n FROM messages WHERE client_msg_id LIKE 'lone-%'`);
    expect(rows[0].n).toBe(0);
    // A well-formed astral character is fine, in the id and in the body.
    a.send({ type: 'send', channelId: general, clientMsgId: 'emoji-😀', body: '😀', ref: 'r3' });
    expect(await a.next()).toMatchObject({ type: 'ack', clientMsgId: 'emoji-😀', message: { body: '😀' } });
    a.close();
  });

  it('SHUT1: a send in flight when the server shuts down gets its ack before 1001 going_away', async () => {
    const a = await connect(server.url, alice);
    const slow = delayQuery(server.ctx.pool, 'relay_store_message', 300);
    try {
      a.send({ type: 'send', channelId: general, clientMsgId: 'in-flight', body: 'stored during shutdown', ref: 'f' });
      await slow.started;
      const closing = server.close();
      expect(await a.next()).toMatchObject({ type: 'ack', clientMsgId: 'in-flight', ref: 'f' });
      expect(await a.waitClose()).toEqual({ code: 1001, reason: 'going_away' });
      await closing;
    } finally {
      slow.restore();
    }
  });
});

describe('two instances on one Redis', () => {
  let pair: Awaited<ReturnType<typeof startInstancePair>>;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    pair = await startInstancePair();
    ({ a, b } = pair);
  });
  afterAll(() => pair?.close());

  it("SHUT1/PRES1: the users of a stopping instance are reported offline on the others, even when the database is slow", async () => {
    const alice = await a.register('shutalice');
    const bob = await b.register('shutbob');
    const ch = (await alice.post('/api/channels', { name: 'shut-general', kind: 'private', memberIds: [bob.userId] })).body.channel.id;
    const bs = await connect(b.url, bob);
    bs.send({ type: 'subscribe', channelId: ch });
    await bs.next('subscribed');
    const as = await connect(a.url, alice);
    expect(await bs.next('presence')).toMatchObject({ userId: alice.userId, status: 'online' });
    // Reading alice's channels for the offline event takes a while on the stopping instance.
    delayQuery(a.ctx.pool, 'relay_user_channels', 300);
    const closing = a.close();
    expect(await as.waitClose()).toEqual({ code: 1001, reason: 'going_away' });
    await closing;
    expect(await bs.next('presence')).toMatchObject({ channelId: ch, userId: alice.userId, status: 'offline' });
    bs.close();
  });
});
