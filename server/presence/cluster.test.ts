/**
 * RedisPresence on a real Redis Cluster of three masters (PRES3), through node-redis's cluster
 * client: the same scripts and keys the server uses. A script that touched keys of several
 * slots would fail here (CROSSSLOT), and one routed by a key it does not declare would land on
 * a node that does not hold the others.
 */
import pino from 'pino';
import { createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type TestRedisCluster } from '../test/redis-cluster.js';
import type { PresenceEvents } from './presence.js';
import { RedisPresence, type PresenceRedis } from './redis.js';

const log = pino({ level: 'silent' });
const BOUND_MS = 1_000; // lease 600 ms, heartbeat 200 ms

function recorder(events: { online: string[]; offline: string[] }): PresenceEvents {
  return {
    offline: (changes) => events.offline.push(...changes.map((c) => c.userId)),
    online: (changes) => events.online.push(...changes.map((c) => c.userId)),
  };
}

describe('RedisPresence on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  const clients: Array<{ close(): Promise<unknown> }> = [];
  const client = async () => {
    const c = createCluster({ rootNodes: cluster.nodes.map((n) => ({ url: n.url })) });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  };
  const tracker = async () => {
    const events = { online: [] as string[], offline: [] as string[] };
    const p = new RedisPresence((await client()) as unknown as PresenceRedis, log, BOUND_MS);
    p.start(recorder(events));
    return { p, events };
  };

  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await cluster?.stop();
  });

  it('PRES3: transitions, snapshots, reaffirm, reaping a crashed instance and leaving on stop all work on a cluster', async () => {
    const a = await tracker();
    const b = await tracker();
    const crashed = await tracker();

    const online = await a.p.connect('c-user', 'c-dev-1');
    expect(online).toEqual(expect.any(Number));
    expect(await b.p.connect('c-user', 'c-dev-2')).toBeNull();
    const snap = await b.p.snapshot(['c-user', 'c-nobody']);
    expect(snap.online).toEqual(new Set(['c-user']));
    expect(snap.seqs.get('c-user')).toBe(online);
    expect(await b.p.onlineDevices(['c-dev-1', 'c-dev-2', 'c-dev-3'])).toEqual(new Set(['c-dev-1', 'c-dev-2']));
    expect(await a.p.reaffirm('c-user', online!)).toBe(online);

    // A crashed instance is reaped by a survivor (REAP across its users, in one script).
    await crashed.p.connect('c-crashed-1', 'c-dev-3');
    await crashed.p.connect('c-crashed-2', 'c-dev-4');
    await crashed.p.connect('c-user', 'c-dev-5');
    clearInterval((crashed.p as unknown as { timer: NodeJS.Timeout }).timer);
    const admin = await client();
    await admin.del(`{relay:pres}:alive:${crashed.p.instanceId}`);
    await expect.poll(() => [...a.events.offline, ...b.events.offline].sort(), { timeout: 10_000 }).toEqual(['c-crashed-1', 'c-crashed-2']);
    expect(await a.p.onlineUsers(['c-user', 'c-crashed-1', 'c-crashed-2'])).toEqual(new Set(['c-user']));

    // Transitions both ways, then an instance leaving with a user still counted there.
    expect(await a.p.disconnect('c-user', 'c-dev-1')).toBeNull();
    const offline = await b.p.disconnect('c-user', 'c-dev-2');
    expect(offline).toBeGreaterThan(online!);
    await b.p.connect('c-left', 'c-dev-6');
    await b.p.stop();
    expect(b.events.offline).toContain('c-left');
    expect(await a.p.onlineUsers(['c-user', 'c-left'])).toEqual(new Set());
    await a.p.stop();
  });
});
