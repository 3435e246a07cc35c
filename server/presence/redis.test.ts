/** RedisPresence against a real redis-server: transitions, crash reaping (PRES2), self-repair, leaving on stop (SHUT1). */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type RedisClient } from '../redis.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import type { PresenceEvents } from './presence.js';
import { RedisPresence } from './redis.js';
import { presenceKeys } from './scripts.js';

const log = pino({ level: 'silent' });
const BOUND_MS = 1_000; // lease 600 ms, heartbeat 200 ms

function tracker(redis: RedisClient) {
  /** User ids per event kind, and every event's seq in the order they were reported. */
  const events = { online: [] as string[], offline: [] as string[], seqs: [] as number[] };
  const p = new RedisPresence(redis, log, BOUND_MS);
  p.start(recorder(events));
  return { p, events };
}

function recorder(events: { online: string[]; offline: string[]; seqs: number[] }): PresenceEvents {
  return {
    offline: (changes) => changes.forEach((c) => (events.offline.push(c.userId), events.seqs.push(c.seq))),
    online: (changes) => changes.forEach((c) => (events.online.push(c.userId), events.seqs.push(c.seq))),
  };
}

/** Simulates a crash: the instance stops beating and never cleans up. */
function crash(p: RedisPresence) {
  clearInterval((p as unknown as { timer: NodeJS.Timeout }).timer);
}

describe('RedisPresence', () => {
  let server: TestRedis;
  const clients: RedisClient[] = [];
  const client = async () => {
    const c = createRedis(server.url, log, 'test');
    await c.connect();
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await server.stop();
  });

  it('PRES1: only the first socket anywhere and the last socket everywhere are transitions', async () => {
    const a = tracker(await client());
    const b = tracker(await client());
    const online = await a.p.connect('u1', 'd1');
    expect(online).toEqual(expect.any(Number));
    expect(await a.p.connect('u1', 'd2')).toBeNull();
    expect(await b.p.connect('u1', 'd3')).toBeNull();
    expect(await a.p.onlineUsers(['u1', 'u2'])).toEqual(new Set(['u1']));
    expect(await b.p.onlineDevices(['d1', 'd2', 'd3', 'd4'])).toEqual(new Set(['d1', 'd2', 'd3']));
    expect(await a.p.disconnect('u1', 'd1')).toBeNull();
    expect(await a.p.disconnect('u1', 'd2')).toBeNull();
    // Each transition's seq is later than the one before (receivers drop older ones).
    const offline = await b.p.disconnect('u1', 'd3');
    expect(offline).toBeGreaterThan(online!);
    expect(await a.p.onlineUsers(['u1'])).toEqual(new Set());
    // The seq keeps growing even when its key is lost (Redis restarted or flushed).
    await (await client()).del(presenceKeys.seq);
    expect(await b.p.connect('u1', 'd3')).toBeGreaterThan(offline!);
    await b.p.disconnect('u1', 'd3');
    await a.p.stop();
    await b.p.stop();
  });

  it('PRES2: a crashed instance is reaped by exactly one survivor, its users reported offline once', async () => {
    const dead = tracker(await client());
    const s1 = tracker(await client());
    const s2 = tracker(await client());
    const online = await dead.p.connect('crashed-user', 'crashed-device');
    await s1.p.connect('kept-user', 'kept-device');
    await dead.p.connect('kept-user', 'kept-device-2');
    crash(dead.p);
    await expect.poll(() => s1.events.offline.length + s2.events.offline.length, { timeout: 5_000 }).toBe(1);
    expect([...s1.events.offline, ...s2.events.offline]).toEqual(['crashed-user']);
    expect([...s1.events.seqs, ...s2.events.seqs][0]).toBeGreaterThan(online!);
    expect(await s1.p.onlineUsers(['crashed-user', 'kept-user'])).toEqual(new Set(['kept-user']));
    expect(await s1.p.onlineDevices(['crashed-device', 'kept-device-2'])).toEqual(new Set());
    await s1.p.stop();
    await s2.p.stop();
  });

  it('PRES2: an instance reaped while merely paused registers its sockets again', async () => {
    const paused = tracker(await client());
    const other = tracker(await client());
    await paused.p.connect('slow-user', 'slow-device');
    // The lease lapses as if the process had been paused past it; the other instance reaps it.
    const redis = await client();
    crash(paused.p);
    await redis.del(presenceKeys.alive(paused.p.instanceId));
    await expect.poll(() => other.events.offline, { timeout: 5_000 }).toEqual(['slow-user']);
    // The paused instance resumes beating: it notices and comes back with its user online.
    (paused.p as unknown as { timer?: NodeJS.Timeout }).timer = undefined;
    paused.p.start(recorder(paused.events));
    await expect.poll(() => paused.events.online, { timeout: 5_000 }).toEqual(['slow-user']);
    expect(paused.events.seqs[0]).toBeGreaterThan(other.events.seqs[0]); // online again, after the reaping
    expect(await other.p.onlineUsers(['slow-user'])).toEqual(new Set(['slow-user']));
    expect(await other.p.onlineDevices(['slow-device'])).toEqual(new Set(['slow-device']));
    await paused.p.stop();
    await other.p.stop();
  });

  it('PRES1: a failed Redis write is reconciled on the next heartbeat, reporting the missed transition', async () => {
    const redis = await client();
    const a = tracker(redis);
    const observer = tracker(await client());
    // Scripts run by EVALSHA (scripts.ts): the next one fails as if the connection dropped.
    const realEvalSha = redis.evalSha.bind(redis);
    const failOnce = () => {
      (redis as { evalSha: unknown }).evalSha = () => {
        (redis as { evalSha: unknown }).evalSha = realEvalSha;
        return Promise.reject(new Error('connection lost'));
      };
    };
    failOnce();
    await expect(a.p.connect('flaky-user', 'flaky-device')).rejects.toThrow('connection lost');
    await expect.poll(() => a.events.online, { timeout: 5_000 }).toEqual(['flaky-user']);
    expect(await observer.p.onlineUsers(['flaky-user'])).toEqual(new Set(['flaky-user']));
    expect(await observer.p.onlineDevices(['flaky-device'])).toEqual(new Set(['flaky-device']));

    failOnce();
    await expect(a.p.disconnect('flaky-user', 'flaky-device')).rejects.toThrow('connection lost');
    await expect.poll(() => a.events.offline, { timeout: 5_000 }).toEqual(['flaky-user']);
    expect(await observer.p.onlineUsers(['flaky-user'])).toEqual(new Set());
    expect(await observer.p.onlineDevices(['flaky-device'])).toEqual(new Set());
    expect(a.events.online).toEqual(['flaky-user']); // no spurious repeat
    expect(a.events.seqs[1]).toBeGreaterThan(a.events.seqs[0]);
    await a.p.stop();
    await observer.p.stop();
  });
  it('PRES2/SHUT1: stop() takes the instance out of presence: users who were only there go offline, reported once', async () => {
    const redis = await client();
    const leaving = tracker(await client());
    const staying = tracker(await client());
    const online = await leaving.p.connect('leaving-user', 'leaving-device');
    await leaving.p.connect('shared-user', 'shared-device-1');
    await staying.p.connect('shared-user', 'shared-device-2');
    // Their departures never reached Redis (the shutdown's wait ran out): only stop() is left.
    await leaving.p.stop();
    expect(leaving.events.offline).toEqual(['leaving-user']);
    expect(leaving.events.seqs.at(-1)).toBeGreaterThan(online!);
    expect(await staying.p.onlineUsers(['leaving-user', 'shared-user'])).toEqual(new Set(['shared-user']));
    expect(await staying.p.onlineDevices(['leaving-device', 'shared-device-1', 'shared-device-2'])).toEqual(new Set(['shared-device-2']));
    // Nothing names the instance any more: no survivor has anything left to reap.
    expect(await redis.sIsMember(presenceKeys.instances, leaving.p.instanceId)).toBe(0);
    expect(await redis.exists([presenceKeys.alive(leaving.p.instanceId), presenceKeys.index(leaving.p.instanceId, 'u'), presenceKeys.index(leaving.p.instanceId, 'd')])).toBe(0);
    // A socket that was still on its way in adds nothing once the instance has left.
    expect(await leaving.p.connect('too-late-user', 'too-late-device')).toBeNull();
    expect(await staying.p.onlineUsers(['too-late-user'])).toEqual(new Set());
    await staying.p.stop();
    expect(staying.events.offline).toEqual(['shared-user']);
  });

  it('SHUT1: after drain(), an online transition is not returned; the departure settles it', async () => {
    const a = tracker(await client());
    const b = tracker(await client());
    a.p.drain();
    // Counted in Redis (the user is online for everyone who asks), but not returned for announcing.
    expect(await a.p.connect('drained-user', 'drained-device')).toBeNull();
    expect(await b.p.onlineUsers(['drained-user'])).toEqual(new Set(['drained-user']));
    // Her socket closes with the shutdown: the offline transition is returned as usual (an
    // instance may have read her online in between) and Redis has her offline.
    expect(await a.p.disconnect('drained-user', 'drained-device')).toEqual(expect.any(Number));
    expect(await b.p.onlineUsers(['drained-user'])).toEqual(new Set());

    // A user whose other socket opened on another instance meanwhile: not offline when this one
    // closes, so the online transition held back is reported then (nobody was told she came).
    const held = await a.p.connect('both-user', 'both-device-1');
    expect(held).toBeNull();
    expect(await b.p.connect('both-user', 'both-device-2')).toBeNull();
    expect(await a.p.disconnect('both-user', 'both-device-1')).toBeNull();
    expect(a.events.online).toEqual(['both-user']);
    expect(await b.p.onlineUsers(['both-user'])).toEqual(new Set(['both-user']));
    await a.p.stop();
    await b.p.stop();
  });

  it('PRES1: reaffirm: a transition about to be announced keeps its seq, gets a fresh one when old, or is dropped when far superseded', async () => {
    const redis = await client();
    const a = tracker(await client());
    const online = (await a.p.connect('re-user', 're-device'))!;
    expect(await a.p.reaffirm('re-user', online)).toBe(online); // the latest, just decided
    const offline = (await a.p.disconnect('re-user', 're-device'))!;
    expect(await a.p.reaffirm('re-user', online)).toBe(online); // superseded just after: receivers order the two
    // The next transition is decided two minutes later by Redis's clock (seqs floor on it in µs).
    await redis.set(presenceKeys.seq, String(offline + 120_000_000));
    const later = (await a.p.connect('re-user', 're-device'))!;
    expect(later).toBeGreaterThan(offline + 120_000_000);
    // Announced only now, the offline would look like a counter reset to receivers: dropped.
    expect(await a.p.reaffirm('re-user', offline)).toBeNull();
    expect(await a.p.reaffirm('re-user', later)).toBe(later);
    // Still the latest but decided 40 s ago: announced with a fresh seq, for the same state.
    const old = Date.now() * 1000 - 40_000_000;
    await redis.set(presenceKeys.last('old-user'), String(old));
    const fresh = (await a.p.reaffirm('old-user', old))!;
    expect(fresh).toBeGreaterThan(later);
    expect(await redis.get(presenceKeys.last('old-user'))).toBe(String(fresh));
    await a.p.disconnect('re-user', 're-device');
    await a.p.stop();
  });
});
