/**
 * The channel stream across two instances on one Postgres and one real Redis (SEQ1–SEQ7):
 * seqs without gaps under concurrent sends, gap-free ordered delivery when one instance's
 * publishes are delayed or dropped on purpose (a wrapper around its real bus, not a mock), and
 * a redis-server killed and restarted mid-chat.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventBus } from '../bus/bus.js';
import { type HttpClient, type TestServer } from '../test/harness.js';
import { startInstancePair } from '../test/instance-pair.js';
import { StreamClient } from '../test/stream-client.js';
import { connect, type TestSocket } from '../test/ws-client.js';

let pair: Awaited<ReturnType<typeof startInstancePair>>;
let a: TestServer;
let b: TestServer;
const sockets: TestSocket[] = [];
const clients: StreamClient[] = [];

beforeAll(async () => {
  pair = await startInstancePair();
  ({ a, b } = pair);
});
afterEach(() => {
  for (const s of sockets.splice(0)) s.ws.terminate();
  for (const c of clients.splice(0)) c.stop();
});
afterAll(() => pair?.close());

async function channelFor(owner: HttpClient, name: string, members: HttpClient[]): Promise<string> {
  const res = await owner.post('/api/channels', { name, kind: 'private', memberIds: members.map((m) => m.userId) });
  expect(res.status).toBe(201);
  return res.body.channel.id;
}

async function subscribed(server: TestServer, user: HttpClient, channelId: string): Promise<TestSocket> {
  const s = await connect(server.url, user);
  sockets.push(s);
  s.send({ type: 'subscribe', channelId, sinceSeq: 0, ref: 'sub' });
  await s.next('subscribed');
  return s;
}

async function storedSeqs(server: TestServer, channelId: string): Promise<{ seqs: number[]; lastSeq: number }> {
  const { rows } = await server.ctx.pool.query<{ seq: string }>('SELECT seq FROM messages WHERE channel_id = $1 ORDER BY seq', [channelId]);
  const { rows: ch } = await server.ctx.pool.query<{ last_seq: string }>('SELECT last_seq FROM channels WHERE id = $1', [channelId]);
  return { seqs: rows.map((r) => Number(r.seq)), lastSeq: Number(ch[0].last_seq) };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const streamSeqs = (s: TestSocket, channelId: string) => s.all('message').filter((f) => f.message.channelId === channelId).map((f) => f.seq as number);

/** Wraps an instance's real bus: its publishes of channel stream events go through `filter`. */
function interceptStreamPublishes(bus: EventBus, filter: (payload: string, publish: () => Promise<void>) => Promise<void>): () => void {
  const original = bus.publish.bind(bus);
  bus.publish = (topic, payload) => (topic.startsWith('ch:') && payload.startsWith('m|') ? filter(payload, () => original(topic, payload)) : original(topic, payload));
  return () => {
    bus.publish = original;
  };
}

describe('SEQ1: sequence numbers', () => {
  it('SEQ1: concurrent sends on two instances, with racing retries of the same clientMsgId, take seqs 1..n without a gap or a reuse', async () => {
    const users = await Promise.all([a.register('seqann'), b.register('seqben'), a.register('seqcat'), b.register('seqdan')]);
    const ch = await channelFor(users[0], 'seq-concurrent', users.slice(1));
    // Every user has a socket on each instance and sends each message on both at once: a retry
    // racing its original into Postgres through the other instance.
    const socks = await Promise.all(users.flatMap((u) => [connect(a.url, u), connect(b.url, u)]));
    sockets.push(...socks);
    for (const u of users.keys()) {
      for (const i of range(25)) {
        const frame = { type: 'send', channelId: ch, clientMsgId: `c-${u}-${i}`, body: `m ${u}.${i}` };
        socks[2 * u].send(frame);
        socks[2 * u + 1].send(frame);
      }
    }
    await Promise.all(socks.map((s) => expect.poll(() => s.all('ack').length, { timeout: 20_000 }).toBe(25)));
    const { seqs, lastSeq } = await storedSeqs(a, ch);
    expect(seqs).toEqual(range(100));
    expect(lastSeq).toBe(100);
    // Both answers to a doubled send name the same message.
    const seqOf = (s: TestSocket) => new Map(s.all('ack').map((ack) => [ack.clientMsgId as string, ack.message.seq as number]));
    for (const u of users.keys()) expect(seqOf(socks[2 * u])).toEqual(seqOf(socks[2 * u + 1]));
  });
});

describe('SEQ2/SEQ5: gap-free delivery when the bus loses or delays events', () => {
  it('SEQ2/SEQ5: with every third publish of A dropped and the rest delayed at random, subscribers on B get every seq once, in order, the last one included', async () => {
    const [sender, watcher1, watcher2] = await Promise.all([a.register('gapsender'), b.register('gapwatch1'), a.register('gapwatch2')]);
    const ch = await channelFor(sender, 'seq-gaps', [watcher1, watcher2]);
    const onB = await subscribed(b, watcher1, ch);
    const onA = await subscribed(a, watcher2, ch);
    let n = 0;
    const restore = interceptStreamPublishes(a.ctx.bus, async (_payload, publish) => {
      n += 1;
      if (n % 3 === 0) throw new Error('dropped on purpose'); // every try of this one fails
      await new Promise((r) => setTimeout(r, Math.random() * 60));
      await publish();
    });
    try {
      const s = await connect(a.url, sender);
      sockets.push(s);
      const N = 50;
      for (const i of range(N)) s.send({ type: 'send', channelId: ch, clientMsgId: `g-${i}`, body: `gap ${i}` });
      await expect.poll(() => s.all('ack').length, { timeout: 20_000 }).toBe(N);
      // The tail check delivers a dropped last event within 2 × 3 s; the ceiling is generous.
      await expect.poll(() => streamSeqs(onB, ch).length, { timeout: 20_000 }).toBe(N);
      await expect.poll(() => streamSeqs(onA, ch).length, { timeout: 20_000 }).toBe(N);
      expect(streamSeqs(onB, ch)).toEqual(range(N));
      expect(streamSeqs(onA, ch)).toEqual(range(N));
      for (const f of onB.all('message')) expect(f.seq).toBe(f.message.seq);
      expect(n).toBeGreaterThan(N / 2); // the wrapper did see (and drop) A's publishes
    } finally {
      restore();
    }
  });

  it('SEQ5: a stored event whose every publish is lost, with nothing after it, still reaches subscribers on the other instance', async () => {
    const [sender, watcher] = await Promise.all([a.register('tailsender'), b.register('tailwatch')]);
    const ch = await channelFor(sender, 'seq-tail', [watcher]);
    const onB = await subscribed(b, watcher, ch);
    const restore = interceptStreamPublishes(a.ctx.bus, async () => {
      throw new Error('dropped on purpose');
    });
    try {
      const s = await connect(a.url, sender);
      sockets.push(s);
      s.send({ type: 'send', channelId: ch, clientMsgId: 'tail-1', body: 'the last word' });
      await s.next('ack');
      const f = await onB.next('message', 15_000);
      expect(f).toMatchObject({ seq: 1, message: { clientMsgId: 'tail-1', seq: 1 } });
    } finally {
      restore();
    }
  });

  it('SEQ7: a resend answered as a duplicate reaches the subscribers who missed the first publish', async () => {
    const [sender, watcher] = await Promise.all([a.register('dupsender'), b.register('dupwatch')]);
    const ch = await channelFor(sender, 'seq-dup', [watcher]);
    const onB = await subscribed(b, watcher, ch);
    // Stored on A but never published (A "died" after its INSERT): the row is there, no event went out.
    const restore = interceptStreamPublishes(a.ctx.bus, async () => {
      throw new Error('dropped on purpose');
    });
    const s = await connect(a.url, sender);
    sockets.push(s);
    s.send({ type: 'send', channelId: ch, clientMsgId: 'dup-1', body: 'once' });
    const first = await s.next('ack');
    restore();
    // The sender's client resends it on B, which finds the row: same ack, and the event goes out.
    const again = await connect(b.url, sender);
    sockets.push(again);
    again.send({ type: 'send', channelId: ch, clientMsgId: 'dup-1', body: 'once' });
    expect((await again.next('ack')).message).toEqual(first.message);
    expect(await onB.next('message', 15_000)).toMatchObject({ seq: 1, message: { clientMsgId: 'dup-1' } });
    expect((await storedSeqs(a, ch)).seqs).toEqual([1]);
  });
});

describe('SEQ2: a seq the database no longer has', () => {
  it('SEQ2: when an event\'s row is gone (deleted with its sender) before it was delivered, the stream moves past it instead of stalling', async () => {
    const [sender, watcher] = await Promise.all([a.register('holesender'), b.register('holewatch')]);
    const ch = await channelFor(sender, 'seq-hole', [watcher]);
    const onB = await subscribed(b, watcher, ch);
    const s = await connect(a.url, sender);
    sockets.push(s);
    s.send({ type: 'send', channelId: ch, clientMsgId: 'hole-1', body: 'one' });
    await onB.next('message', 10_000);
    // Seq 2 is stored but never published, then its row is deleted (a cascade from its sender,
    // or an operator's clean-up): nobody will ever see seq 2.
    const restore = interceptStreamPublishes(a.ctx.bus, async (payload, publish) => {
      if (payload.includes('"hole-2"')) throw new Error('dropped on purpose'); // and every retry
      await publish();
    });
    try {
      s.send({ type: 'send', channelId: ch, clientMsgId: 'hole-2', body: 'two' });
      await expect.poll(() => s.all('ack').some((f) => f.clientMsgId === 'hole-2'), { timeout: 10_000 }).toBe(true);
      await a.ctx.pool.query("DELETE FROM messages WHERE channel_id = $1 AND client_msg_id = 'hole-2'", [ch]);
      s.send({ type: 'send', channelId: ch, clientMsgId: 'hole-3', body: 'three' });
      s.send({ type: 'send', channelId: ch, clientMsgId: 'hole-4', body: 'four' });
      await expect.poll(() => streamSeqs(onB, ch), { timeout: 15_000 }).toEqual([1, 3, 4]);
    } finally {
      restore();
    }
  });
});

describe('SEQ6: the bus reconnects', () => {
  it('SEQ6: redis-server killed and restarted mid-chat: afterwards every subscriber holds every stored message once, in seq order, on the sockets it had', async () => {
    const { redis } = pair;
    const [ann, ben] = await Promise.all([a.register('redisann'), b.register('redisben')]);
    const ch = await channelFor(ann, 'seq-redis', [ben]);
    const readers = [await subscribed(a, ben, ch), await subscribed(b, ann, ch)];
    const senders = [await connect(a.url, ann), await connect(b.url, ben)];
    sockets.push(...senders);
    let sent = 0;
    const sendSome = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const s = senders[sent % 2];
        s.send({ type: 'send', channelId: ch, clientMsgId: `r-${sent}`, body: `redis ${sent}` });
        sent += 1;
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await sendSome(30);
    await redis.stop();
    // Stored (Postgres is up) and acked, but every publish fails; nothing is sent after Redis is
    // back, so no later event reveals them: the bus reconnect (or the tail check) must.
    await sendSome(30);
    const acks = () => senders.reduce((n, s) => n + s.all('ack').length, 0);
    await expect.poll(acks, { timeout: 30_000 }).toBe(60);
    await redis.restart();
    // Both instances noticed their bus come back (SEQ6), whichever path delivers first.
    await expect.poll(() => [a, b].every((s) => s.logs.some((l) => l.includes('bus reconnected'))), { timeout: 20_000 }).toBe(true);
    const { seqs } = await storedSeqs(a, ch);
    expect(seqs).toEqual(range(60));
    for (const reader of readers) {
      await expect.poll(() => streamSeqs(reader, ch).length, { timeout: 30_000 }).toBe(60);
      expect(streamSeqs(reader, ch)).toEqual(range(60));
      expect(reader.closed).toBeUndefined();
    }
    // Leave both instances ready (sessions live in Redis) for the tests after this one.
    for (const server of [a, b]) await expect.poll(async () => (await fetch(`${server.url}/readyz`)).status, { timeout: 20_000 }).toBe(200);
  });
});

describe('SEQ3/SEQ4: a client that resumes from its contiguous seq', () => {
  it('SEQ4: a sender whose ack runs ahead of a message still in flight resumes from the contiguous seq and misses nothing', async () => {
    const [ann, ben] = await Promise.all([a.register('resumeann'), b.register('resumeben')]);
    const ch = await channelFor(ann, 'seq-resume', [ben]);
    const annClient = new StreamClient([a.url], ann, ch);
    const benClient = new StreamClient([b.url], ben, ch);
    clients.push(annClient, benClient);
    annClient.start();
    benClient.start();
    await expect.poll(() => annClient.connects + benClient.connects, { timeout: 10_000 }).toBe(2);
    // Ben's events reach A late; Ann's own acks move ahead of them.
    const restore = interceptStreamPublishes(b.ctx.bus, async (_p, publish) => {
      await new Promise((r) => setTimeout(r, 150));
      await publish();
    });
    try {
      for (const i of range(30)) {
        (i % 2 ? annClient : benClient).send(`res-${i}`, `resume ${i}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      await expect.poll(() => annClient.acked.size + benClient.acked.size, { timeout: 20_000 }).toBe(30);
      // Cut Ann's socket while Ben's last ones are still on their way to A.
      (annClient as unknown as { ws: { terminate(): void } }).ws.terminate();
      // Her client comes back on its own (a reconnect takes a backoff wait: waited for, not assumed).
      await expect.poll(() => annClient.connects, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
      await expect.poll(() => annClient.contiguous, { timeout: 20_000 }).toBe(30);
      await expect.poll(() => benClient.contiguous, { timeout: 20_000 }).toBe(30);
      expect(annClient.problems).toEqual([]);
      expect(benClient.problems).toEqual([]);
    } finally {
      restore();
    }
  });
});
