/**
 * Presence while an instance shuts down (SHUT1, PRES2), with real sockets, real Postgres and a
 * real Redis: users whose only sockets were on it go offline everywhere even when their
 * departures do not reach Redis within the shutdown's wait, and a socket that authenticates as
 * the shutdown begins does not make its user flap online and offline. Each test shuts its own
 * instance A down, so each has its own pair.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RedisClient } from '../redis.js';
import { startInstancePair } from '../test/instance-pair.js';
import { connect, openSocket, type TestSocket } from '../test/ws-client.js';

type Options = { keys?: string[]; arguments?: string[] };

/**
 * Holds back the first presence script call on `redis` naming `id` among its arguments (the
 * scripts go by EVALSHA, or EVAL). `mode` 'before': the call reaches Redis only once released
 * (a write still on its way when Redis is slow); 'reply': it runs at once and only its answer
 * waits. `held` resolves when the call is caught.
 */
function holdScriptCall(redis: RedisClient, id: string, mode: 'before' | 'reply') {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let onHeld!: () => void;
  const held = new Promise<void>((r) => (onHeld = r));
  const target = redis as unknown as Record<'evalSha' | 'eval', (script: string, options?: Options) => Promise<unknown>>;
  const real = { evalSha: target.evalSha.bind(redis), eval: target.eval.bind(redis) };
  let caught = false;
  for (const method of ['evalSha', 'eval'] as const) {
    target[method] = (script, options) => {
      if (caught || !options?.arguments?.includes(id)) return real[method](script, options);
      caught = true;
      onHeld();
      if (mode === 'before') return gate.then(() => real[method](script, options));
      return real[method](script, options).then(async (reply) => {
        await gate;
        return reply;
      });
    };
  }
  return { held, release };
}

const statuses = (s: TestSocket, userId: string, channelId: string) =>
  s.all('presence').filter((f) => f.userId === userId && f.channelId === channelId).map((f) => f.status as string);

describe('presence through a shutdown', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  });

  it('SHUT1/PRES2: a user whose departure does not reach Redis during the shutdown still goes offline on the other instances', async () => {
    const pair = await startInstancePair();
    cleanups.push(() => pair.close());
    const { a, b } = pair;
    const alice = await a.register('shutalice');
    const bob = await b.register('shutbob');
    const carol = await a.register('shutcarol');
    const ch = (await alice.post('/api/channels', { name: 'shut-one', kind: 'private', memberIds: [bob.userId, carol.userId] })).body.channel.id as string;
    const watcher = await connect(b.url, bob);
    cleanups.push(async () => watcher.close());
    watcher.send({ type: 'subscribe', channelId: ch });
    await watcher.next('subscribed');

    await connect(a.url, alice); // her only socket, on A
    const carolA = await connect(a.url, carol); // carol is on both instances
    const carolB = await connect(b.url, carol);
    cleanups.push(async () => carolB.close());
    await expect.poll(() => [statuses(watcher, alice.userId, ch), statuses(watcher, carol.userId, ch)], { timeout: 10_000 }).toEqual([['online'], ['online']]);

    // A shuts down; the Redis call that would remove alice (her socket's departure) does not get
    // through before A's wait for departures (2 s) is over.
    const departure = holdScriptCall(a.ctx.redis!, alice.userId, 'before');
    cleanups.push(async () => departure.release());
    const closing = a.close();
    await departure.held;
    await closing;
    expect((await carolA.closedPromise).code).toBe(1001);

    await expect.poll(() => statuses(watcher, alice.userId, ch), { timeout: 10_000 }).toEqual(['online', 'offline']);
    expect(await b.ctx.presence.onlineUsers([alice.userId, carol.userId])).toEqual(new Set([carol.userId]));
    const late = await connect(b.url, bob);
    cleanups.push(async () => late.close());
    late.send({ type: 'subscribe', channelId: ch });
    expect((await late.next('subscribed')).presence).toMatchObject({ [alice.userId]: 'offline', [carol.userId]: 'online' });
    expect(statuses(watcher, carol.userId, ch)).toEqual(['online']); // carol is still on B
  });

  it('SHUT1: a socket whose presence count is on its way when the shutdown begins does not show its user online; the count is undone', async () => {
    const pair = await startInstancePair();
    cleanups.push(() => pair.close());
    const { a, b } = pair;
    const alice = await a.register('flapalice');
    const bob = await b.register('flapbob');
    const ch = (await alice.post('/api/channels', { name: 'flap-one', kind: 'private', memberIds: [bob.userId] })).body.channel.id as string;
    const watcher = await connect(b.url, bob);
    cleanups.push(async () => watcher.close());
    watcher.send({ type: 'subscribe', channelId: ch });
    expect((await watcher.next('subscribed')).presence[alice.userId]).toBe('offline');
    const bystander = await connect(a.url, bob); // tells the test when A's shutdown has begun

    // Alice's first socket: Redis counts her (online) but its answer is slow to come back to A.
    const count = holdScriptCall(a.ctx.redis!, alice.userId, 'reply');
    cleanups.push(async () => count.release());
    const aliceA = await openSocket(a.url, alice);
    aliceA.send({ type: 'authenticate', token: alice.token });
    await count.held;
    const closing = a.close();
    expect((await bystander.closedPromise).code).toBe(1001); // the shutdown has begun
    count.release();
    await closing;
    expect((await aliceA.closedPromise).code).toBe(1001);

    // Her count was undone (the offline transition is announced: an instance may have read her
    // online meanwhile), and nobody was shown her online.
    await expect.poll(() => statuses(watcher, alice.userId, ch), { timeout: 10_000 }).toContain('offline');
    expect(statuses(watcher, alice.userId, ch)).toEqual(['offline']);
    expect(await b.ctx.presence.onlineUsers([alice.userId])).toEqual(new Set());
  });
});
