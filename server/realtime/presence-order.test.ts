/**
 * PRES1 across instances: presence transitions are decided in one order in Redis, but each
 * instance publishes its own events (after reading the user's channels), so they can reach the
 * other instances in another order. Real sockets, real Postgres, real Redis; the database call
 * that is slowed down still runs against the real database, the delay only widens a window that
 * exists anyway under load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS, type EventBus } from '../bus/bus.js';
import { presenceKeys } from '../presence/scripts.js';
import type { TestServer } from '../test/harness.js';
import { delayQuery } from '../test/query-delay.js';
import { startInstancePair } from '../test/instance-pair.js';
import { connect, type TestSocket } from '../test/ws-client.js';
import { encodeEnvelope } from './hub.js';

/**
 * Resolves once `count` payloads matching `match` have been published on the (real) bus, i.e.
 * Redis has queued them for every subscriber: anything published after that reaches a
 * subscriber after them.
 */
function published(bus: EventBus, match: (payload: string) => boolean, count: number): { done: Promise<void>; restore(): void } {
  const real = bus.publish.bind(bus);
  let seen = 0;
  let onDone!: () => void;
  const done = new Promise<void>((r) => (onDone = r));
  bus.publish = async (topic, payload) => {
    await real(topic, payload);
    if (match(payload) && ++seen === count) onDone();
  };
  return { done, restore: () => void (bus.publish = real) };
}

const statuses = (s: TestSocket, userId: string, channelId: string) =>
  s.all('presence').filter((f) => f.userId === userId && f.channelId === channelId).map((f) => f.status as string);

describe('presence order across instances', () => {
  let pair: Awaited<ReturnType<typeof startInstancePair>>;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    pair = await startInstancePair();
    ({ a, b } = pair);
  });
  afterAll(() => pair?.close());

  it('PRES1: a last socket closing on A while the first opens on B leaves watchers showing the user online, whatever order the events arrive in', async () => {
    const alice = await a.register('ordalice');
    const bob = await b.register('ordbob');
    // Two channels: one transition is published once per channel, and both copies must pass.
    const ch1 = (await alice.post('/api/channels', { name: 'ord-one', kind: 'private', memberIds: [bob.userId] })).body.channel.id as string;
    const ch2 = (await alice.post('/api/channels', { name: 'ord-two', kind: 'private', memberIds: [bob.userId] })).body.channel.id as string;
    const watcher = await connect(b.url, bob);
    for (const channelId of [ch1, ch2]) {
      watcher.send({ type: 'subscribe', channelId });
      await watcher.next('subscribed');
    }

    const first = await connect(a.url, alice);
    await expect.poll(() => [statuses(watcher, alice.userId, ch1), statuses(watcher, alice.userId, ch2)], { timeout: 10_000 }).toEqual([['online'], ['online']]);

    // A reads alice's channels slowly before publishing her offline event, so it goes out after
    // B's online event although Redis decided it first.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = delayQuery(a.ctx.pool, 'relay_user_channels', gate);
    const offlineOut = published(a.ctx.bus, (p) => p.includes(alice.userId) && p.includes('"status":"offline"'), 2);
    try {
      first.close();
      await slow.started; // Redis has made alice offline (A's last socket); A is reading her channels
      const second = await connect(b.url, alice); // her first socket again: online, decided after
      await expect
        .poll(() => [statuses(watcher, alice.userId, ch1), statuses(watcher, alice.userId, ch2)], { timeout: 10_000 })
        .toEqual([['online', 'online'], ['online', 'online']]);
      release(); // only now may A publish the offline event Redis decided first
      await offlineOut.done; // A's stale offline event is out now, behind B's online one

      // A message published after it reaches the watcher after it (one Redis subscriber
      // connection on B, in order): once it is here, the stale offline was delivered or dropped.
      second.send({ type: 'send', channelId: ch1, clientMsgId: 'after-offline', body: 'barrier' });
      expect(await watcher.next('message', 10_000)).toMatchObject({ message: { clientMsgId: 'after-offline' } });

      expect(statuses(watcher, alice.userId, ch1).at(-1)).toBe('online');
      expect(statuses(watcher, alice.userId, ch2).at(-1)).toBe('online');
      expect(await b.ctx.presence.onlineUsers([alice.userId])).toEqual(new Set([alice.userId]));
      expect(await a.ctx.presence.onlineUsers([alice.userId])).toEqual(new Set([alice.userId]));
      // Frames keep the contract's shape: no sequence number reaches clients.
      for (const f of watcher.all('presence')) expect(Object.keys(f).sort()).toEqual(['channelId', 'status', 'type', 'userId']);

      // And the next real transition still gets through: alice leaves B, she is offline.
      second.close();
      await expect.poll(() => statuses(watcher, alice.userId, ch1).at(-1), { timeout: 10_000 }).toBe('offline');
      await expect.poll(() => statuses(watcher, alice.userId, ch2).at(-1), { timeout: 10_000 }).toBe('offline');
    } finally {
      release();
      slow.restore();
      offlineOut.restore();
      watcher.close();
    }
  });

  it('PRES1: an event older than the presence snapshot a watcher subscribed with does not overturn it', async () => {
    const alice = await a.register('snapalice');
    const bob = await b.register('snapbob');
    const ch = (await alice.post('/api/channels', { name: 'snap-one', kind: 'private', memberIds: [bob.userId] })).body.channel.id as string;

    // Alice's first socket, on A: Redis decides "online"; A's event is held back (its read of her
    // channels waits on a gate).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = delayQuery(a.ctx.pool, 'relay_user_channels', gate);
    const lateOnline = published(a.ctx.bus, (p) => p.includes(alice.userId) && p.includes('"status":"online"'), 1);
    const offlineOut = published(b.ctx.bus, (p) => p.includes(alice.userId) && p.includes('"status":"offline"'), 1);
    try {
      const onA = await connect(a.url, alice);
      await slow.started;
      // Her last socket is on B: Redis decides "offline" there, after A's "online", and B's event
      // goes out at once, before anyone on B watches the channel.
      const onB = await connect(b.url, alice);
      onA.close();
      // Wait until A has left her set in Redis (B still holds her), so B's close is the last.
      await expect.poll(() => a.ctx.redis!.sCard(presenceKeys.user(alice.userId)), { timeout: 10_000 }).toBe(1);
      onB.close();
      await offlineOut.done;
      expect(await b.ctx.presence.onlineUsers([alice.userId])).toEqual(new Set());

      // Bob subscribes on B now: the snapshot says offline.
      const watcher = await connect(b.url, bob);
      watcher.send({ type: 'subscribe', channelId: ch, ref: 'snap' });
      expect((await watcher.next('subscribed')).presence[alice.userId]).toBe('offline');

      // A's "online", decided before that "offline", goes out only now.
      release();
      await lateOnline.done;
      // A frame published on A after it reaches B after it (one subscriber connection, in order).
      // (A typing frame: not a stream event, so it needs no seq.)
      await a.ctx.bus.publish(TOPICS.channel(ch), encodeEnvelope('t', alice.userId, '', JSON.stringify({ type: 'typing', channelId: ch, userId: alice.userId })));
      expect(await watcher.next('typing', 10_000)).toMatchObject({ userId: alice.userId });
      expect(statuses(watcher, alice.userId, ch)).toEqual([]);
      watcher.close();
    } finally {
      release();
      slow.restore();
      lateOnline.restore();
      offlineOut.restore();
    }
  });
});
