/**
 * The authenticated protocol on one instance (SPEC SUB1–SUB4, MSG1–MSG5, TYP1, PRES1, FLOW1,
 * FLOW3, FLOW6), against real sockets and a real Postgres; a Redis-mode pass at the end runs the
 * core of it with the bus, presence and sessions in a real private Redis.
 *
 * `settle(socket)` is the ordering barrier: the server writes a socket's frames in order, so once
 * the pong to a ping sent now arrives, every frame the server meant for that socket before it has
 * arrived too. "No frame follows" is asserted after such a barrier, never after a sleep.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverFrame } from '../../shared/protocol.js';
import { LIMITS } from '../../shared/codes.js';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { connect, openSocket, type Frame, type TestSocket } from '../test/ws-client.js';

let barrier = 0;
async function settle(...sockets: TestSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(async (s) => {
      const ref = `settle-${++barrier}`;
      s.send({ type: 'ping', ref });
      for (;;) if ((await s.next('pong')).ref === ref) return;
    }),
  );
}

/** Frames of a type received so far that match a predicate. */
function framesOf(s: TestSocket, type: string, match: (f: Frame) => boolean = () => true): Frame[] {
  return s.all(type).filter(match);
}

async function subscribe(s: TestSocket, channelId: string, since?: string): Promise<Frame> {
  const ref = `sub-${++barrier}`;
  s.send({ type: 'subscribe', channelId, ref, ...(since ? { since } : {}) });
  const f = await s.find((x) => x.ref === ref);
  if (f.type !== 'subscribed') throw new Error(`subscribe failed: ${JSON.stringify(f)}`);
  return f;
}

async function sendMessage(s: TestSocket, channelId: string, body: string, clientMsgId = randomUUID()): Promise<Frame> {
  const ref = `send-${++barrier}`;
  s.send({ type: 'send', channelId, clientMsgId, body, ref });
  const f = await s.find((x) => x.ref === ref);
  if (f.type !== 'ack') throw new Error(`send failed: ${JSON.stringify(f)}`);
  return f;
}

/** Sends a frame with a fresh ref and returns the reply carrying that ref. */
async function request(s: TestSocket, frame: Record<string, unknown>): Promise<Frame> {
  const ref = `req-${++barrier}`;
  s.send({ ...frame, ref });
  return s.find((f) => f.ref === ref);
}

describe('the protocol on one instance', () => {
  let server: TestServer;
  let alice: HttpClient;
  let bob: HttpClient;
  let carol: HttpClient;
  let general: string;
  let secret: string;
  const open: TestSocket[] = [];
  const live = async (c: HttpClient) => {
    const s = await connect(server.url, c);
    open.push(s);
    return s;
  };
  const count = async (sql: string, values: unknown[] = []) => (await server.ctx.pool.query(sql, values)).rows[0].n as number;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await server.register('palice');
    bob = await server.register('pbob');
    carol = await server.register('pcarol');
    general = (await alice.post('/api/channels', { name: 'p-general', kind: 'public', memberIds: [bob.userId] })).body.channel.id;
    secret = (await alice.post('/api/channels', { name: 'p-secret', kind: 'private', memberIds: [bob.userId] })).body.channel.id;
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await server?.close();
  });

  it('SUB1: subscribe answers subscribed with a presence snapshot of the members', async () => {
    const a = await live(alice);
    const sub = await subscribe(a, general);
    expect(sub).toMatchObject({ type: 'subscribed', channelId: general });
    expect(sub.truncated).toBeUndefined();
    expect(sub.presence).toEqual({ [alice.userId]: 'online', [bob.userId]: 'offline' });
    const b = await live(bob);
    await expect.poll(async () => (await subscribe(a, general)).presence[bob.userId]).toBe('online');
    b.close();
    await expect.poll(async () => (await subscribe(a, general)).presence[bob.userId]).toBe('offline');
    a.close();
  });

  it('SUB2: subscribing to a channel you are not in, or that does not exist, is forbidden and joins nothing', async () => {
    const c = await live(carol);
    for (const channelId of [secret, general, randomUUID(), 'not-a-uuid']) {
      expect(await request(c, { type: 'subscribe', channelId })).toMatchObject({ type: 'error', code: 'forbidden' });
    }
    const a = await live(alice);
    await subscribe(a, secret);
    await sendMessage(a, secret, 'carol must not see this');
    await sendMessage(a, general, 'nor this');
    await settle(c);
    expect(framesOf(c, 'message')).toEqual([]);
    a.close();
    c.close();
  });

  it('SUB3: with since, the messages after it are replayed in order before subscribed', async () => {
    const a = await live(alice);
    const ch = (await alice.post('/api/channels', { name: 'p-replay', kind: 'public', memberIds: [bob.userId] })).body.channel.id;
    const acks = [];
    for (let i = 0; i < 5; i++) acks.push(await sendMessage(a, ch, `m${i}`));
    const b = await live(bob);
    const sub = await subscribe(b, ch, acks[1].message.id);
    expect(sub.truncated).toBeUndefined();
    const replayed = framesOf(b, 'message');
    expect(replayed.map((f) => f.message.body)).toEqual(['m2', 'm3', 'm4']);
    expect(replayed.map((f) => f.message)).toEqual(acks.slice(2).map((f) => f.message));
    // Replay comes before `subscribed`.
    const subIndex = b.frames.indexOf(sub);
    expect(b.frames.findIndex((f) => f.type === 'message')).toBeLessThan(subIndex);
    // `since` the newest message replays nothing; `since` 0 replays everything.
    const c = await live(bob);
    await subscribe(c, ch, acks[4].message.id);
    await subscribe(c, ch, '0');
    expect(framesOf(c, 'message').map((f) => f.message.body)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    a.close();
    b.close();
    c.close();
  });

  it('SUB3: more than 500 messages after since replays exactly the first 500 and sets truncated', async () => {
    const ch = (await alice.post('/api/channels', { name: 'p-flood', kind: 'private', memberIds: [bob.userId] })).body.channel.id;
    await server.ctx.pool.query(
      `WITH bump AS (UPDATE channels SET last_seq = last_seq + 620 WHERE id = $1::uuid RETURNING last_seq - 620 AS base)
       INSERT INTO messages (channel_id, seq, sender_id, client_msg_id, body)
       SELECT $1::uuid, bump.base + g, $2::uuid, 'bulk-' || g, 'bulk ' || g FROM bump, generate_series(1, 620) g ORDER BY g`,
      [ch, alice.userId],
    );
    const { rows } = await server.ctx.pool.query<{ id: string }>(`SELECT id::text AS id FROM messages WHERE channel_id = $1 ORDER BY messages.id`, [ch]);
    const since = rows[9].id;
    const b = await live(bob);
    const sub = await subscribe(b, ch, since);
    expect(sub.truncated).toBe(true);
    const replayed = framesOf(b, 'message').map((f) => f.message.id);
    expect(replayed).toHaveLength(500);
    const expected = rows.slice(10, 510).map((r) => r.id);
    expect(replayed.filter((id, i) => id !== expected[i]).slice(0, 5)).toEqual([]);
    // Resubscribing from the last one gets the rest, without truncation.
    const rest = await subscribe(b, ch, replayed.at(-1));
    expect(rest.truncated).toBeUndefined();
    expect(framesOf(b, 'message').length).toBe(610);
    b.close();
  });

  it('SUB3: a replay of long messages stops at about 1 MiB with truncated, and the socket stays open', async () => {
    const ch = (await alice.post('/api/channels', { name: 'p-heavy', kind: 'private', memberIds: [bob.userId] })).body.channel.id;
    // 120 messages of 4,000 emoji: ~16 KB each as UTF-8, ~2 MB in all.
    await server.ctx.pool.query(
      `WITH bump AS (UPDATE channels SET last_seq = last_seq + 120 WHERE id = $1::uuid RETURNING last_seq - 120 AS base)
       INSERT INTO messages (channel_id, seq, sender_id, client_msg_id, body)
       SELECT $1::uuid, bump.base + g, $2::uuid, 'heavy-' || g, repeat('😀', 4000) FROM bump, generate_series(1, 120) g ORDER BY g`,
      [ch, alice.userId],
    );
    const { rows } = await server.ctx.pool.query<{ id: string }>(`SELECT id::text AS id FROM messages WHERE channel_id = $1 ORDER BY messages.id`, [ch]);
    const b = await live(bob);
    const sub = await subscribe(b, ch, '0');
    expect(sub.truncated).toBe(true);
    const first = framesOf(b, 'message');
    const bytes = first.reduce((n, f) => n + Buffer.byteLength(JSON.stringify(f)), 0);
    expect(first.length).toBeGreaterThan(10);
    expect(first.length).toBeLessThan(120);
    expect(bytes).toBeLessThanOrEqual(LIMITS.replayMaxBytes);
    expect(first.map((f) => f.message.id)).toEqual(rows.slice(0, first.length).map((r) => r.id));
    // The client asks again from the last one it got, and so on to the end: nothing skipped.
    let last = first.at(-1)!.message.id;
    for (let round = 0; round < 10 && framesOf(b, 'message').length < 120; round++) {
      await subscribe(b, ch, last);
      last = framesOf(b, 'message').at(-1)!.message.id;
    }
    expect(framesOf(b, 'message').map((f) => f.message.id)).toEqual(rows.map((r) => r.id));
    expect(await request(b, { type: 'ping' })).toMatchObject({ type: 'pong' });
    b.close();
  });

  it('SUB3: live messages that arrive during a replay follow it, each exactly once, in order', async () => {
    const ch = (await alice.post('/api/channels', { name: 'p-race', kind: 'public', memberIds: [bob.userId] })).body.channel.id;
    await server.ctx.pool.query(
      `WITH bump AS (UPDATE channels SET last_seq = last_seq + 400 WHERE id = $1::uuid RETURNING last_seq - 400 AS base)
       INSERT INTO messages (channel_id, seq, sender_id, client_msg_id, body)
       SELECT $1::uuid, bump.base + g, $2::uuid, 'race-' || g, repeat('x', 200) FROM bump, generate_series(1, 400) g ORDER BY g`,
      [ch, alice.userId],
    );
    const a = await live(alice);
    const b = await live(bob);
    for (let round = 0; round < 3; round++) {
      // Each round is a fresh subscription (a re-subscribe with since asks for its replay again).
      if (round > 0) expect(await request(b, { type: 'unsubscribe', channelId: ch })).toMatchObject({ type: 'unsubscribed' });
      const from = b.frames.length;
      // Live sends race the replay: some commit before its query, some during, some after.
      b.send({ type: 'subscribe', channelId: ch, since: '0', ref: `race-${round}` });
      const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => sendMessage(a, ch, `live ${round}.${i}`)));
      await settle(b);
      const segment = b.frames.slice(from);
      expect(segment.filter((f) => f.type === 'subscribed')).toHaveLength(1);
      const ids = segment.filter((f) => f.type === 'message').map((f) => BigInt(f.message.id));
      // Strictly ascending: nothing twice, nothing out of order.
      const disorder = ids.flatMap((id, i) => (i > 0 && id <= ids[i - 1] ? [`${ids[i - 1]} then ${id} at ${i}`] : []));
      expect(disorder).toEqual([]);
      for (const ack of acks) expect(ids).toContain(BigInt(ack.message.id));
      expect(ids).toHaveLength(await count(`SELECT count(*)::int AS n FROM messages WHERE channel_id = $1`, [ch]));
    }
    a.close();
    b.close();
  });

  it('SUB4: unsubscribe answers unsubscribed and no frame of that channel follows', async () => {
    const a = await live(alice);
    const b = await live(bob);
    await subscribe(b, general);
    await sendMessage(a, general, 'before');
    await settle(b);
    expect(framesOf(b, 'message', (f) => f.message.body === 'before')).toHaveLength(1);
    expect(await request(b, { type: 'unsubscribe', channelId: general })).toMatchObject({ type: 'unsubscribed', channelId: general });
    await subscribe(a, general);
    await sendMessage(a, general, 'after');
    a.send({ type: 'typing', channelId: general });
    await settle(a, b);
    expect(framesOf(b, 'message', (f) => f.message.body === 'after')).toEqual([]);
    expect(framesOf(b, 'typing')).toEqual([]);
    // Unsubscribing from a channel you never subscribed to is harmless.
    expect(await request(b, { type: 'unsubscribe', channelId: randomUUID() })).toMatchObject({ type: 'unsubscribed' });
    a.close();
    b.close();
  });

  it("MSG1: the ack arrives after the row is stored; the sender's other sockets and other subscribers get message, the sending socket does not", async () => {
    const a1 = await live(alice);
    const a2 = await live(alice);
    const b = await live(bob);
    const c = await live(carol);
    for (const s of [a1, a2, b]) await subscribe(s, general);
    const clientMsgId = randomUUID();
    a1.send({ type: 'send', channelId: general, clientMsgId, body: 'hello all', ref: 'm1' });
    const ack = await a1.next('ack');
    const { rows } = await server.ctx.pool.query(`SELECT id::text AS id, body, sender_id FROM messages WHERE client_msg_id = $1`, [clientMsgId]);
    expect(rows).toEqual([{ id: ack.message.id, body: 'hello all', sender_id: alice.userId }]);
    expect(ack).toMatchObject({ type: 'ack', clientMsgId, ref: 'm1', message: { channelId: general, senderId: alice.userId, clientMsgId, body: 'hello all' } });
    expect(serverFrame.safeParse(ack).success).toBe(true);
    await settle(a1, a2, b, c);
    for (const s of [a2, b]) expect(framesOf(s, 'message', (f) => f.message.id === ack.message.id).map((f) => f.message)).toEqual([ack.message]);
    expect(framesOf(a1, 'message', (f) => f.message.id === ack.message.id)).toEqual([]);
    expect(framesOf(c, 'message')).toEqual([]);
    for (const s of [a1, a2, b, c]) s.close();
  });

  it('MSG2: a retried clientMsgId gets the same ack and no second row or message frame', async () => {
    const a = await live(alice);
    const b = await live(bob);
    await subscribe(b, general);
    const clientMsgId = randomUUID();
    const first = await sendMessage(a, general, 'once', clientMsgId);
    const retry = await sendMessage(a, general, 'once', clientMsgId);
    const changed = await sendMessage(a, general, 'a different body', clientMsgId);
    expect(retry.message).toEqual(first.message);
    expect(changed.message).toEqual(first.message);
    // A reconnect does not reset it.
    a.close();
    const a2 = await live(alice);
    expect((await sendMessage(a2, general, 'once', clientMsgId)).message).toEqual(first.message);
    expect(await count(`SELECT count(*)::int AS n FROM messages WHERE client_msg_id = $1`, [clientMsgId])).toBe(1);
    await settle(b);
    expect(framesOf(b, 'message', (f) => f.message.clientMsgId === clientMsgId)).toHaveLength(1);
    // The same clientMsgId from another user is another message.
    const bobs = await sendMessage(b, general, 'mine', clientMsgId);
    expect(bobs.message.id).not.toBe(first.message.id);
    expect(await count(`SELECT count(*)::int AS n FROM messages WHERE client_msg_id = $1`, [clientMsgId])).toBe(2);
    a2.close();
    b.close();
  });

  it('MSG2: concurrent retries of one clientMsgId store one message and ack it every time', async () => {
    const a = await live(alice);
    const b = await live(bob);
    await subscribe(b, general);
    const clientMsgId = randomUUID();
    const acks = await Promise.all(Array.from({ length: 8 }, () => sendMessage(a, general, 'burst', clientMsgId)));
    expect(new Set(acks.map((f) => f.message.id)).size).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM messages WHERE client_msg_id = $1`, [clientMsgId])).toBe(1);
    await settle(b);
    expect(framesOf(b, 'message', (f) => f.message.clientMsgId === clientMsgId)).toHaveLength(1);
    a.close();
    b.close();
  });

  it("MSG3: a non-member's send answers forbidden and stores nothing", async () => {
    const c = await live(carol);
    const b = await live(bob);
    await subscribe(b, secret);
    const before = await count(`SELECT count(*)::int AS n FROM messages`);
    for (const channelId of [secret, general, randomUUID(), 'not-a-uuid']) {
      const reply = await request(c, { type: 'send', channelId, clientMsgId: randomUUID(), body: 'let me in' });
      expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    }
    expect(await count(`SELECT count(*)::int AS n FROM messages`)).toBe(before);
    await settle(b);
    expect(framesOf(b, 'message')).toEqual([]);
    // A member who left can no longer send either.
    await carol.post(`/api/channels/${general}/join`);
    await carol.post(`/api/channels/${general}/leave`);
    expect(await request(c, { type: 'send', channelId: general, clientMsgId: randomUUID(), body: 'gone' })).toMatchObject({ code: 'forbidden' });
    expect(await count(`SELECT count(*)::int AS n FROM messages`)).toBe(before);
    c.close();
    b.close();
  });

  it('MSG4: message ids grow in commit order within a channel under concurrent senders', async () => {
    const sockets = [await live(alice), await live(alice), await live(bob), await live(bob)];
    const acks = await Promise.all(sockets.flatMap((s, i) => Array.from({ length: 10 }, (_, j) => sendMessage(s, general, `c${i}.${j}`))));
    const ids = acks.map((f) => BigInt(f.message.id));
    expect(new Set(ids).size).toBe(ids.length);
    // Every message acked is found by a replay from before the first of them.
    const min = ids.reduce((m, id) => (id < m ? id : m));
    const b = await live(bob);
    await subscribe(b, general, String(min - 1n));
    const replayed = framesOf(b, 'message').map((f) => BigInt(f.message.id));
    expect([...replayed].sort((x, y) => (x < y ? -1 : 1))).toEqual(replayed);
    for (const id of ids) expect(replayed).toContain(id);
    for (const s of [...sockets, b]) s.close();
  });

  it('MSG5: being added or removed sends channel_added / channel_removed to every socket of that user', async () => {
    const dave = await server.register('pdave');
    const d1 = await live(dave);
    const d2 = await live(dave);
    const a = await live(alice);
    const added = async (channelId: string) => {
      for (const s of [d1, d2]) {
        for (;;) {
          const f = await s.next('channel_added');
          if (f.channel.id === channelId) {
            expect(f.channel.memberIds).toContain(dave.userId);
            break;
          }
        }
      }
    };
    const removed = async (channelId: string) => {
      for (const s of [d1, d2]) expect(await s.next('channel_removed')).toEqual({ type: 'channel_removed', channelId });
    };

    // Created with dave as a member.
    const created = (await alice.post('/api/channels', { name: 'p-with-dave', kind: 'private', memberIds: [dave.userId] })).body.channel;
    await added(created.id);
    // Dave joins a public channel himself.
    const pub = (await alice.post('/api/channels', { name: 'p-open', kind: 'public' })).body.channel;
    expect((await dave.post(`/api/channels/${pub.id}/join`)).status).toBe(200);
    await added(pub.id);
    // A member adds him.
    const priv = (await alice.post('/api/channels', { name: 'p-added', kind: 'private' })).body.channel;
    expect((await alice.post(`/api/channels/${priv.id}/members`, { userId: dave.userId })).status).toBe(200);
    await added(priv.id);
    // A direct conversation: both sides hear of it once; the same pair again is the same channel.
    const direct = (await alice.post('/api/direct', { userId: dave.userId })).body.channel;
    expect(direct).toMatchObject({ kind: 'direct' });
    expect([...direct.memberIds].sort()).toEqual([alice.userId, dave.userId].sort());
    await added(direct.id);
    for (;;) if ((await a.next('channel_added')).channel.id === direct.id) break;
    expect((await alice.post('/api/direct', { userId: dave.userId })).body.channel.id).toBe(direct.id);
    expect((await dave.post('/api/direct', { userId: alice.userId })).body.channel.id).toBe(direct.id);
    await settle(d1, d2, a);
    expect(framesOf(d1, 'channel_added', (f) => f.channel.id === direct.id)).toHaveLength(1);
    expect(framesOf(a, 'channel_added', (f) => f.channel.id === direct.id)).toHaveLength(1);

    // Leaving: channel_removed, and the subscription ends with it.
    await subscribe(d1, pub.id);
    expect((await dave.post(`/api/channels/${pub.id}/leave`)).status).toBe(200);
    await removed(pub.id);
    await subscribe(a, pub.id);
    await sendMessage(a, pub.id, 'dave left');
    await settle(d1);
    expect(framesOf(d1, 'message', (f) => f.message.channelId === pub.id)).toEqual([]);
    // Leaving the direct channel and starting it again brings him back.
    expect((await dave.post(`/api/channels/${direct.id}/leave`)).status).toBe(200);
    await removed(direct.id);
    expect((await alice.post('/api/direct', { userId: dave.userId })).body.channel.id).toBe(direct.id);
    await added(direct.id);
    for (const s of [d1, d2, a]) s.close();
  });

  it('MSG5: a socket that authenticates later still hears of channels (its user topic is live)', async () => {
    const erin = await server.register('perin');
    const e1 = await live(erin);
    e1.close();
    await e1.waitClose();
    const e2 = await live(erin);
    const ch = (await alice.post('/api/channels', { name: 'p-for-erin', kind: 'private', memberIds: [erin.userId] })).body.channel;
    expect((await e2.next('channel_added')).channel.id).toBe(ch.id);
    e2.close();
  });

  it('TYP1: typing reaches the other users, at most once per 2 s; unsubscribed typing is forbidden', async () => {
    const a1 = await live(alice);
    const a2 = await live(alice);
    const b = await live(bob);
    const c = await live(carol);
    for (const s of [a1, a2, b]) await subscribe(s, secret);
    for (let i = 0; i < 5; i++) a1.send({ type: 'typing', channelId: secret });
    await settle(a1);
    await settle(a2, b);
    expect(framesOf(b, 'typing')).toEqual([{ type: 'typing', channelId: secret, userId: alice.userId }]);
    // Not to the typist's own sockets.
    expect(framesOf(a2, 'typing')).toEqual([]);
    expect(framesOf(a1, 'typing')).toEqual([]);
    // Bob typing is throttled separately.
    b.send({ type: 'typing', channelId: secret });
    await settle(b);
    await settle(a1);
    expect(framesOf(a1, 'typing')).toEqual([{ type: 'typing', channelId: secret, userId: bob.userId }]);
    // Not subscribed (member or not): forbidden, and nobody hears it.
    expect(await request(c, { type: 'typing', channelId: secret })).toMatchObject({ type: 'error', code: 'forbidden' });
    const b2 = await live(bob);
    expect(await request(b2, { type: 'typing', channelId: general })).toMatchObject({ type: 'error', code: 'forbidden' });
    // After the throttle window, typing is announced again.
    await new Promise((r) => setTimeout(r, 2_050));
    a1.send({ type: 'typing', channelId: secret });
    await settle(a1);
    await settle(b);
    expect(framesOf(b, 'typing')).toHaveLength(2);
    for (const s of [a1, a2, b, b2, c]) s.close();
  });

  it('PRES1: two sockets of one user give the watcher exactly one online and one offline event', async () => {
    const frank = await server.register('pfrank');
    const ch = (await alice.post('/api/channels', { name: 'p-presence', kind: 'private', memberIds: [frank.userId] })).body.channel.id;
    const a = await live(alice);
    const snapshot = await subscribe(a, ch);
    expect(snapshot.presence).toEqual({ [alice.userId]: 'online', [frank.userId]: 'offline' });
    const isFrank = (f: Frame) => f.userId === frank.userId && f.channelId === ch;

    const f1 = await live(frank);
    expect(await a.next('presence')).toEqual({ type: 'presence', channelId: ch, userId: frank.userId, status: 'online' });
    const f2 = await live(frank);
    expect((await subscribe(a, ch)).presence[frank.userId]).toBe('online');
    f1.close();
    await f1.waitClose();
    // Still online through the second tab; the snapshot says so too.
    await settle(f2);
    expect((await subscribe(a, ch)).presence[frank.userId]).toBe('online');
    f2.close();
    await expect.poll(() => framesOf(a, 'presence', isFrank).map((f) => f.status)).toEqual(['online', 'offline']);
    await settle(a);
    expect((await subscribe(a, ch)).presence[frank.userId]).toBe('offline');
    expect(framesOf(a, 'presence', isFrank).map((f) => f.status)).toEqual(['online', 'offline']);
    a.close();
  });

  it('FLOW1: frames that are not JSON, of unknown type or with bad fields answer invalid_message with ref and change nothing', async () => {
    const a = await live(alice);
    await subscribe(a, general);
    const before = await count(`SELECT count(*)::int AS n FROM messages`);
    a.send('this is not json');
    expect(await a.next('error')).toMatchObject({ code: 'invalid_message' });
    const bad: Array<Record<string, unknown>> = [
      { type: 'dance' },
      { type: 'send', channelId: general, clientMsgId: 'flow1', body: '' },
      { type: 'send', channelId: general, clientMsgId: 'flow1', body: 'x'.repeat(4001) },
      { type: 'send', channelId: general, clientMsgId: '', body: 'x' },
      { type: 'send', channelId: general, clientMsgId: 'c'.repeat(65), body: 'x' },
      { type: 'send', channelId: general, body: 'no client id' },
      { type: 'send', channelId: general, clientMsgId: 'flow1', body: 42 },
      { type: 'send', channelId: general, clientMsgId: 'flow1', body: 'x', admin: true },
      // Postgres text cannot hold U+0000: refused as input, not an internal_error.
      { type: 'send', channelId: general, clientMsgId: 'flow1', body: 'a\u0000b' },
      { type: 'send', channelId: general, clientMsgId: 'flow1\u0000', body: 'ab' },
      { type: 'send', channelId: `${general}\u0000`, clientMsgId: 'flow1', body: 'ab' },
      { type: 'subscribe', channelId: general, since: '9223372036854775808' },
      { type: 'subscribe' },
      { type: 'subscribe', channelId: general, since: 'yesterday' },
      { type: 'subscribe', channelId: general, since: '-1' },
      { type: 'subscribe', channelId: 'x'.repeat(65) },
      { type: 'typing', channelId: 7 },
      { type: 'refresh' },
      { type: 'ping', extra: 1 },
      { type: null },
    ];
    for (const frame of bad) {
      const reply = await request(a, frame);
      expect(reply, JSON.stringify(frame)).toMatchObject({ type: 'error', code: 'invalid_message' });
      expect(typeof reply.message).toBe('string');
    }
    // A field error names the field.
    expect((await request(a, { type: 'send', channelId: general, clientMsgId: 'flow1', body: '' })).message).toMatch(/body/);
    // Shapes without an object (and a ref that is not a string) are answered without a ref.
    for (const text of ['[]', '42', 'null', '"ping"', '{"type":"ping","ref":7}']) {
      a.send(text);
      const err = await a.next('error');
      expect(err).toMatchObject({ code: 'invalid_message' });
      expect(err.ref).toBeUndefined();
    }
    // A body of exactly 4000 characters is fine.
    expect((await sendMessage(a, general, 'y'.repeat(4000))).message.body).toHaveLength(4000);
    expect(await count(`SELECT count(*)::int AS n FROM messages`)).toBe(before + 1);
    expect(await count(`SELECT count(*)::int AS n FROM messages WHERE client_msg_id = 'flow1'`)).toBe(0);
    a.close();
  });

  it('FLOW3: a frame over 64 KiB closes 1009 frame_too_big', async () => {
    const a = await live(alice);
    a.send({ type: 'send', channelId: general, clientMsgId: 'big', body: 'z'.repeat(65 * 1024) });
    expect(await a.waitClose()).toEqual({ code: 1009, reason: 'frame_too_big' });
    // Before authentication too.
    const p = await openSocket(server.url, alice);
    p.send('z'.repeat(65 * 1024));
    expect(await p.waitClose()).toEqual({ code: 1009, reason: 'frame_too_big' });
    expect(await count(`SELECT count(*)::int AS n FROM messages WHERE client_msg_id = 'big'`)).toBe(0);
  });

  it('FLOW3: a binary frame closes 1003 binary_not_supported', async () => {
    const a = await live(alice);
    a.ws.send(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true });
    expect(await a.waitClose()).toEqual({ code: 1003, reason: 'binary_not_supported' });
    const p = await openSocket(server.url, alice);
    p.ws.send(Buffer.from(JSON.stringify({ type: 'authenticate', token: alice.token })), { binary: true });
    expect(await p.waitClose()).toEqual({ code: 1003, reason: 'binary_not_supported' });
  });

  it('FLOW6: ping answers pong with its ref', async () => {
    const a = await live(alice);
    expect(await request(a, { type: 'ping' })).toMatchObject({ type: 'pong' });
    a.send({ type: 'ping' });
    expect(await a.next('pong')).toEqual({ type: 'pong' });
    a.close();
  });

  it('every frame the server sent in this file matches the shared serverFrame schema', () => {
    const bad = open.flatMap((s) => s.frames).filter((f) => !serverFrame.safeParse(f).success);
    expect(bad).toEqual([]);
  });
});

describe('the protocol in Redis mode (one instance, bus and presence in Redis)', () => {
  let redis: TestRedis;
  let server: TestServer;

  beforeAll(async () => {
    redis = await startRedis();
    server = await startTestServer({ env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it('SUB1/MSG1/MSG2/MSG5/PRES1/TYP1 work with the Redis bus and presence', async () => {
    const alice = await server.register('ralice');
    const bob = await server.register('rbob');
    const a1 = await connect(server.url, alice);
    const a2 = await connect(server.url, alice);
    const b = await connect(server.url, bob);
    const ch = (await alice.post('/api/channels', { name: 'r-general', kind: 'private', memberIds: [bob.userId] })).body.channel.id;
    for (const s of [a1, a2, b]) expect((await s.next('channel_added')).channel.id).toBe(ch);
    const sub = await subscribe(a1, ch);
    expect(sub.presence).toEqual({ [alice.userId]: 'online', [bob.userId]: 'online' });
    await subscribe(a2, ch);
    await subscribe(b, ch);

    const clientMsgId = randomUUID();
    const ack = await sendMessage(a1, ch, 'via redis', clientMsgId);
    expect((await b.next('message')).message).toEqual(ack.message);
    expect((await a2.next('message')).message).toEqual(ack.message);
    expect((await sendMessage(a1, ch, 'via redis', clientMsgId)).message).toEqual(ack.message);
    a1.send({ type: 'typing', channelId: ch });
    expect(await b.next('typing')).toEqual({ type: 'typing', channelId: ch, userId: alice.userId });
    // Everything published before this second message has been delivered once it arrives.
    const second = await sendMessage(a1, ch, 'second');
    expect((await b.next('message')).message.id).toBe(second.message.id);
    expect(framesOf(b, 'message')).toHaveLength(2);
    expect(framesOf(a1, 'message')).toEqual([]);
    expect(framesOf(a2, 'typing')).toEqual([]);

    const isBob = (f: Frame) => f.userId === bob.userId;
    b.close();
    await expect.poll(() => framesOf(a1, 'presence', isBob).map((f) => f.status)).toEqual(['offline']);
    const b2 = await connect(server.url, bob);
    await expect.poll(() => framesOf(a1, 'presence', isBob).map((f) => f.status)).toEqual(['offline', 'online']);
    for (const s of [a1, a2, b2]) s.close();
  });
});
