/**
 * One contract for the EventBus interface, run against every implementation: the in-process
 * MemoryBus and the RedisBus (two instances on one real Redis stand for two server processes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { createRedis, type RedisClient } from '../redis.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import type { EventBus } from './bus.js';
import { MemoryBus } from './memory.js';
import { RedisBus } from './redis.js';

interface Implementation {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** Two buses that see each other's events: two instances, or the same one twice in-process. */
  pair(): Promise<[EventBus, EventBus]>;
}

const log = createLogger('silent');

function memory(): Implementation {
  return {
    name: 'MemoryBus',
    async setup() {},
    async teardown() {},
    async pair() {
      const bus = new MemoryBus();
      return [bus, bus];
    },
  };
}

function redisImpl(): Implementation {
  let redis: TestRedis;
  const clients: RedisClient[] = [];
  const buses: EventBus[] = [];
  const make = async () => {
    const publisher = createRedis(redis.url, log, 'test-pub');
    await publisher.connect();
    clients.push(publisher);
    const bus = await RedisBus.connect(publisher, redis.url, log);
    buses.push(bus);
    return bus;
  };
  return {
    name: 'RedisBus',
    async setup() {
      redis = await startRedis();
    },
    async teardown() {
      for (const b of buses.splice(0)) await b.close();
      for (const c of clients.splice(0)) await c.close().catch(() => {});
      await redis?.stop();
    },
    async pair() {
      return [await make(), await make()];
    },
  };
}

let topicSeq = 0;
const topic = (name: string) => `test:${name}:${++topicSeq}`;

function collector() {
  const got: string[] = [];
  return { got, handler: (p: string) => void got.push(p) };
}

describe.each([memory(), redisImpl()])('EventBus contract: $name', (impl) => {
  let a: EventBus;
  let b: EventBus;
  beforeAll(async () => {
    await impl.setup();
    [a, b] = await impl.pair();
  });
  afterAll(() => impl.teardown());

  it('delivers a publish to every subscriber of the topic, on this instance and the other', async () => {
    const t = topic('fanout');
    const x = collector();
    const y = collector();
    const z = collector();
    await a.subscribe(t, x.handler);
    await a.subscribe(t, y.handler);
    await b.subscribe(t, z.handler);
    await a.publish(t, 'one');
    await b.publish(t, 'two');
    for (const c of [x, y, z]) await expect.poll(() => c.got).toEqual(['one', 'two']);
  });

  it('delivers a publish made right after subscribe resolves (the subscription is active)', async () => {
    const t = topic('ready');
    const x = collector();
    await b.subscribe(t, x.handler);
    await a.publish(t, 'first');
    await expect.poll(() => x.got).toEqual(['first']);
  });

  it('handles two concurrent subscriptions to a new topic', async () => {
    const t = topic('concurrent');
    const x = collector();
    const y = collector();
    await Promise.all([a.subscribe(t, x.handler), a.subscribe(t, y.handler)]);
    await b.publish(t, 'hello');
    await expect.poll(() => [x.got, y.got]).toEqual([['hello'], ['hello']]);
  });

  it('stops delivery to an unsubscribed handler and keeps it for the others', async () => {
    const t = topic('unsub');
    const sentinel = topic('sentinel');
    const x = collector();
    const y = collector();
    const s = collector();
    const offX = await a.subscribe(t, x.handler);
    const offY = await a.subscribe(t, y.handler);
    await a.subscribe(sentinel, s.handler);
    await b.publish(t, 'before');
    await expect.poll(() => [x.got, y.got]).toEqual([['before'], ['before']]);

    await offX();
    await b.publish(t, 'after-x');
    await expect.poll(() => y.got).toEqual(['before', 'after-x']);
    expect(x.got).toEqual(['before']);

    // Last handler gone: nothing arrives, shown by a later event on another topic arriving alone.
    await offY();
    await b.publish(t, 'after-all');
    await b.publish(sentinel, 'done');
    await expect.poll(() => s.got).toEqual(['done']);
    expect(x.got).toEqual(['before']);
    expect(y.got).toEqual(['before', 'after-x']);

    // Subscribing again after a full unsubscribe works.
    const again = collector();
    await a.subscribe(t, again.handler);
    await b.publish(t, 'back');
    await expect.poll(() => again.got).toEqual(['back']);
    await offX(); // a second call is harmless
  });

  it('keeps topics isolated, with no prefix or pattern matching', async () => {
    const base = topic('iso');
    const subs = { exact: collector(), longer: collector(), star: collector() };
    await a.subscribe(base, subs.exact.handler);
    await a.subscribe(`${base}0`, subs.longer.handler);
    await a.subscribe(`${base}*`, subs.star.handler);
    await b.publish(`${base}0`, 'to-longer');
    await b.publish(`${base}*`, 'to-star');
    await b.publish(base, 'to-exact');
    await expect.poll(() => subs.exact.got).toEqual(['to-exact']);
    expect(subs.longer.got).toEqual(['to-longer']);
    expect(subs.star.got).toEqual(['to-star']);
  });

  it('preserves publish order per topic, even for publishes not awaited one by one', async () => {
    const t = topic('order');
    const x = collector();
    const y = collector();
    await a.subscribe(t, x.handler);
    await b.subscribe(t, y.handler);
    const expected = Array.from({ length: 200 }, (_, i) => `m${i}`);
    await Promise.all(expected.map((m) => a.publish(t, m)));
    await expect.poll(() => x.got.length).toBe(200);
    await expect.poll(() => y.got.length).toBe(200);
    expect(x.got).toEqual(expected);
    expect(y.got).toEqual(expected);
  });

  it('carries payloads byte for byte', async () => {
    const t = topic('payload');
    const x = collector();
    await b.subscribe(t, x.handler);
    const payloads = ['', 'ünïcødé 🚀 ✓', JSON.stringify({ a: [1, 2, { b: 'c' }] }), 'x'.repeat(100_000), 'line\nbreak\r\n\0nul'];
    for (const p of payloads) await a.publish(t, p);
    await expect.poll(() => x.got.length).toBe(payloads.length);
    expect(x.got).toEqual(payloads);
  });

  it('keeps delivering to the other handlers when one throws', async () => {
    const t = topic('throws');
    const x = collector();
    await a.subscribe(t, () => {
      throw new Error('handler bug');
    });
    await a.subscribe(t, x.handler);
    await b.publish(t, 'still');
    await b.publish(t, 'going');
    await expect.poll(() => x.got).toEqual(['still', 'going']);
  });

  it('publishing to a topic nobody subscribes to is fine', async () => {
    await expect(a.publish(topic('nobody'), 'void')).resolves.toBeUndefined();
  });
});
