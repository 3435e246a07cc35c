/**
 * PRES1, the late cases, across two instances with real sockets, Postgres and Redis: a presence
 * event that reaches a socket while its subscribe is under way, and one published long after a
 * later transition. The database calls that are slowed down still run against the real
 * database; the delays only widen windows that exist anyway under load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceReader } from '../presence/presence.js';
import { presenceKeys } from '../presence/scripts.js';
import type { TestServer } from '../test/harness.js';
import { startInstancePair } from '../test/instance-pair.js';
import { delayQuery } from '../test/query-delay.js';
import { connect, type TestSocket } from '../test/ws-client.js';

const statuses = (s: TestSocket, userId: string, channelId: string) =>
  s.all('presence').filter((f) => f.userId === userId && f.channelId === channelId).map((f) => f.status as string);

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Holds the next presence snapshot read until released (it then reads the real Redis). */
function holdSnapshot(presence: PresenceReader) {
  const real = presence.snapshot.bind(presence);
  const g = gate();
  let onStart!: () => void;
  const started = new Promise<void>((r) => (onStart = r));
  presence.snapshot = async (ids) => {
    presence.snapshot = real;
    onStart();
    await g.promise;
    return real(ids);
  };
  return { started, release: g.open, restore: () => void (presence.snapshot = real) };
}

describe('late presence events', () => {
  let pair: Awaited<ReturnType<typeof startInstancePair>>;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    pair = await startInstancePair();
    ({ a, b } = pair);
  });
  afterAll(() => pair?.close());

  it('PRES1: an event that reaches a subscribing socket before its snapshot, and is older than the snapshot, does not follow it', async () => {
    const alice = await a.register('holdalice');
    const bob = await b.register('holdbob');
    const carol = await b.register('holdcarol');
    const ch = (await alice.post('/api/channels', { name: 'hold-one', kind: 'private', memberIds: [bob.userId, carol.userId] })).body.channel.id as string;
    // Carol watches the channel on B already: she shows when B has received an event.
    const witness = await connect(b.url, carol);
    witness.send({ type: 'subscribe', channelId: ch });
    await witness.next('subscribed');
    // Bob's socket on B, subscribed later (its own online announcement is out of the way).
    const watcher = await connect(b.url, bob);
    const first = await connect(a.url, alice);
    await expect.poll(() => statuses(witness, alice.userId, ch), { timeout: 10_000 }).toEqual(['online']);

    // Alice's next two transitions: offline (her socket on A closes), then online (a socket on
    // B). Each instance's announcement waits on a gate before it reads her channels.
    const gateA = gate();
    const gateB = gate();
    const slowA = delayQuery(a.ctx.pool, 'relay_user_channels', gateA.promise);
    const slowB = delayQuery(b.ctx.pool, 'relay_user_channels', gateB.promise);
    const snapshot = holdSnapshot(b.ctx.presence);
    try {
      first.close();
      await slowA.started; // offline decided in Redis
      const second = await connect(b.url, alice);
      await slowB.started; // online decided after it

      // Bob subscribes on B; his subscribe stops just before reading the snapshot (which will say
      // online, with the later seq).
      watcher.send({ type: 'subscribe', channelId: ch, ref: 'late' });
      await snapshot.started;
      // Meanwhile A's offline goes out and reaches B (the witness gets it): it is older than the
      // snapshot bob is about to read, and it reaches his subscription before that snapshot.
      gateA.open();
      await expect.poll(() => statuses(witness, alice.userId, ch), { timeout: 10_000 }).toEqual(['online', 'offline']);
      snapshot.release();
      const subscribed = await watcher.next('subscribed', 10_000);
      expect(subscribed.presence[alice.userId]).toBe('online');
      // Everything the subscribe held back went out right after `subscribed`, before this answer.
      watcher.send({ type: 'ping' });
      await watcher.next('pong', 10_000);
      expect(statuses(watcher, alice.userId, ch)).toEqual([]);

      // The later transition's own event still gets through, to both.
      gateB.open();
      await expect.poll(() => statuses(witness, alice.userId, ch), { timeout: 10_000 }).toEqual(['online', 'offline', 'online']);
      await expect.poll(() => statuses(watcher, alice.userId, ch), { timeout: 10_000 }).toEqual(['online']);
      second.close();
      await expect.poll(() => statuses(watcher, alice.userId, ch), { timeout: 10_000 }).toEqual(['online', 'offline']);
    } finally {
      gateA.open();
      gateB.open();
      slowA.restore();
      slowB.restore();
      snapshot.restore();
      watcher.close();
      witness.close();
    }
  });

  it('PRES1: an event published after a transition more than a minute newer is not taken for a counter reset', async () => {
    const alice = await a.register('latealice');
    const bob = await b.register('latebob');
    const ch = (await alice.post('/api/channels', { name: 'late-one', kind: 'private', memberIds: [bob.userId] })).body.channel.id as string;
    const watcher = await connect(b.url, bob);
    watcher.send({ type: 'subscribe', channelId: ch });
    await watcher.next('subscribed');
    const first = await connect(a.url, alice);
    await expect.poll(() => statuses(watcher, alice.userId, ch), { timeout: 10_000 }).toEqual(['online']);

    // Her socket on A closes: offline decided in Redis, and A's announcement of it is held back.
    const held = gate();
    const slow = delayQuery(a.ctx.pool, 'relay_user_channels', held.promise);
    try {
      first.close();
      await slow.started;
      // The next transition is decided two minutes later by Redis's clock (seqs floor on it in
      // µs): the seq counter is moved there, as if A's announcement had been delayed that long.
      await a.ctx.redis!.set(presenceKeys.seq, String((Date.now() + 120_000) * 1000));
      const second = await connect(b.url, alice);
      await expect.poll(() => statuses(watcher, alice.userId, ch), { timeout: 10_000 }).toEqual(['online', 'online']);
      held.open(); // only now may A announce the offline decided two "minutes" before

      // Later transitions: offline on B, then online decided and announced by A, after the held
      // one (one chain of announcements per user on A, one bus connection in order to B).
      second.close();
      await expect.poll(() => statuses(watcher, alice.userId, ch).at(-1), { timeout: 10_000 }).toBe('offline');
      const third = await connect(a.url, alice);
      await expect.poll(() => statuses(watcher, alice.userId, ch).at(-1), { timeout: 10_000 }).toBe('online');
      // The stale offline never showed her offline while she was online on B.
      expect(statuses(watcher, alice.userId, ch)).toEqual(['online', 'online', 'offline', 'online']);
      expect(await b.ctx.presence.onlineUsers([alice.userId])).toEqual(new Set([alice.userId]));
      third.close();
      await expect.poll(() => statuses(watcher, alice.userId, ch).at(-1), { timeout: 10_000 }).toBe('offline');
    } finally {
      held.open();
      slow.restore();
      watcher.close();
    }
  });
});
