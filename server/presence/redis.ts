/**
 * Presence across instances, in Redis, with per-instance leases.
 *
 * Keys: `relay:pres:u:<user>` and `relay:pres:d:<device>` are sets of instance ids holding a
 * socket of that user/device; `relay:pres:inst:<id>:u|d` list what an instance holds (for
 * reaping); `relay:pres:alive:<id>` is the instance's lease (PX TTL refreshed by heartbeat);
 * `relay:pres:instances` lists instances; `relay:pres:seq` is the last presence sequence number.
 *
 * Guarantees:
 * - Transitions are decided atomically in Redis (SADD/SREM + SCARD in one script), so concurrent
 *   arrivals and departures on different instances produce exactly one online and one offline
 *   event for a user's whole session of sockets.
 * - Each user transition gets a sequence number in the script that decides it, so seqs follow
 *   the order Redis decided the transitions in, whichever instance publishes its event first.
 *   One counter serves every user (a single key: bounded, no TTL to outlive) and is floored by
 *   the Redis clock in microseconds, so it keeps growing even if the key is lost (Redis restarted
 *   or flushed) while instances still remember seqs they delivered.
 * - Only an instance's first local socket of a user touches Redis; more tabs are local counts.
 * - An instance that dies without cleaning up loses its lease within `leaseMs`; the next
 *   heartbeat of any survivor reaps it in one script (re-checking the lease, so a live instance
 *   is never half-reaped; SREM on the instance list makes exactly one survivor the reaper) and
 *   reports its users offline. With boundMs = PRESENCE_TTL_MS, users turn offline within
 *   0.6·bound (lease) + 0.2·bound (heartbeat) of the crash.
 * - An instance that was only paused past its lease and got reaped notices on its next
 *   heartbeat (it is no longer listed) and registers its sockets again, reporting users online.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { RedisClient } from '../redis.js';
import { Counter } from './local.js';
import type { PresenceChange, PresenceEvents, PresenceSnapshot, PresenceTracker } from './presence.js';

const P = 'relay:pres:';
const SEQ_KEY = `${P}seq`;

/**
 * How long Redis keeps a user's last transition seq (`relay:pres:last:<user>`), read with a
 * presence snapshot: longer than any event is late, and than instances remember seqs (hub.ts).
 */
const LAST_SEQ_TTL_MS = 10 * 60_000;

/**
 * Lua: the next presence seq, max(last + 1, Redis time in µs), see the guarantees above; it is
 * also kept as the user's last seq, so a snapshot can say which events it already includes.
 */
const NEXT_SEQ = `
local function nextSeq(k, lastKey)
  local t = redis.call('TIME')
  local now = t[1] .. string.sub('00000' .. t[2], -6)
  local s = redis.call('INCR', k)
  if s < tonumber(now) then redis.call('SET', k, now); s = tonumber(now) end
  redis.call('SET', lastKey, s, 'PX', ${LAST_SEQ_TTL_MS})
  return s
end`;

/**
 * Both return the seq of the transition they made (first instance in / last out), else 0.
 * KEYS[3] (the seq key) and KEYS[4] (the user's last seq) are passed for users only: devices
 * have no events.
 */
const ADD = `${NEXT_SEQ}
local c = redis.call('SADD', KEYS[1], ARGV[1]); redis.call('SADD', KEYS[2], ARGV[2])
if c == 1 and KEYS[3] and redis.call('SCARD', KEYS[1]) == 1 then return nextSeq(KEYS[3], KEYS[4]) end
return 0`;
const REMOVE = `${NEXT_SEQ}
local c = redis.call('SREM', KEYS[1], ARGV[1]); redis.call('SREM', KEYS[2], ARGV[2])
if c == 1 and KEYS[3] and redis.call('SCARD', KEYS[1]) == 0 then return nextSeq(KEYS[3], KEYS[4]) end
return 0`;

/**
 * For each user id in ARGV: {instances holding the user, the user's last seq or 0}, read in one
 * atomic step, so the seq covers every transition the count reflects.
 */
const SNAPSHOT = `
local out = {}
for i, id in ipairs(ARGV) do
  out[2 * i - 1] = redis.call('SCARD', '${P}u:' .. id)
  local last = redis.call('GET', '${P}last:' .. id)
  out[2 * i] = last and tonumber(last) or 0
end
return out`;

/**
 * Reaps a dead instance atomically; returns the users it leaves with no instance at all, each
 * followed by the seq of its offline transition: {user, seq, user, seq, ...}.
 */
const REAP = `${NEXT_SEQ}
local inst, p = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'alive:' .. inst) == 1 then return {} end
if redis.call('SREM', p .. 'instances', inst) == 0 then return {} end
local offline = {}
for _, u in ipairs(redis.call('SMEMBERS', p .. 'inst:' .. inst .. ':u')) do
  redis.call('SREM', p .. 'u:' .. u, inst)
  if redis.call('SCARD', p .. 'u:' .. u) == 0 then
    table.insert(offline, u)
    table.insert(offline, nextSeq(p .. 'seq', p .. 'last:' .. u))
  end
end
for _, d in ipairs(redis.call('SMEMBERS', p .. 'inst:' .. inst .. ':d')) do
  redis.call('SREM', p .. 'd:' .. d, inst)
end
redis.call('DEL', p .. 'inst:' .. inst .. ':u', p .. 'inst:' .. inst .. ':d')
return offline`;

export class RedisPresence implements PresenceTracker {
  readonly instanceId: string = randomUUID();
  private readonly users = new Counter();
  private readonly devices = new Counter();
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private timer?: NodeJS.Timeout;
  private beats = 0;
  private dirty = false;
  private events: PresenceEvents = { offline: () => {}, online: () => {} };

  constructor(
    private readonly redis: RedisClient,
    private readonly log: Logger,
    boundMs: number,
  ) {
    this.leaseMs = Math.max(300, Math.round(boundMs * 0.6));
    this.heartbeatMs = Math.max(100, Math.round(boundMs * 0.2));
  }

  private key(kind: 'u' | 'd', id: string) {
    return `${P}${kind}:${id}`;
  }
  private instKey(kind: 'u' | 'd', inst = this.instanceId) {
    return `${P}inst:${inst}:${kind}`;
  }

  async connect(userId: string, deviceId: string): Promise<number | null> {
    // The counts are the truth for this instance; Redis follows (and is reconciled if it fails).
    const firstDevice = this.devices.inc(deviceId) === 1;
    const firstUser = this.users.inc(userId) === 1;
    return this.dirtyOnFailure(async () => {
      if (firstDevice) await this.add('d', deviceId);
      return firstUser ? this.add('u', userId) : null;
    });
  }

  async disconnect(userId: string, deviceId: string): Promise<number | null> {
    const lastDevice = this.devices.dec(deviceId) === 0;
    const lastUser = this.users.dec(userId) === 0;
    return this.dirtyOnFailure(async () => {
      if (lastDevice) await this.remove('d', deviceId);
      return lastUser ? this.remove('u', userId) : null;
    });
  }

  /** Adds this instance to a user's/device's set; for a user, the seq when that made them online (first anywhere), else null. */
  private add(kind: 'u' | 'd', id: string): Promise<number | null> {
    return this.transition(ADD, kind, id);
  }

  /** Removes this instance from a user's/device's set; for a user, the seq when that made them offline (last anywhere), else null. */
  private remove(kind: 'u' | 'd', id: string): Promise<number | null> {
    return this.transition(REMOVE, kind, id);
  }

  private async transition(script: string, kind: 'u' | 'd', id: string): Promise<number | null> {
    const keys = [this.key(kind, id), this.instKey(kind)];
    if (kind === 'u') keys.push(SEQ_KEY, `${P}last:${id}`);
    const seq = Number(await this.redis.eval(script, { keys, arguments: [this.instanceId, id] }));
    return seq > 0 ? seq : null;
  }

  /**
   * The local counts change before Redis is told; when telling it fails, Redis and the counts
   * disagree (a user shown offline while connected, or online after leaving). The next heartbeat
   * then reconciles Redis with the counts and reports the transitions that were missed.
   */
  private async dirtyOnFailure<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  private async present(kind: 'u' | 'd', ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const counts = await Promise.all(ids.map((id) => this.redis.sCard(this.key(kind, id))));
    return new Set(ids.filter((_, i) => Number(counts[i]) > 0));
  }

  async onlineUsers(userIds: string[]): Promise<Set<string>> {
    return (await this.snapshot(userIds)).online;
  }

  /** Who is online, with each user's last transition seq (PRES1), in one round trip. */
  async snapshot(userIds: string[]): Promise<PresenceSnapshot> {
    const online = new Set<string>();
    const seqs = new Map<string, number>();
    if (userIds.length === 0) return { online, seqs };
    const out = (await this.redis.eval(SNAPSHOT, { keys: [], arguments: userIds })) as number[];
    userIds.forEach((id, i) => {
      if (Number(out[2 * i]) > 0) online.add(id);
      const seq = Number(out[2 * i + 1]);
      if (seq > 0) seqs.set(id, seq);
    });
    return { online, seqs };
  }
  onlineDevices(deviceIds: string[]): Promise<Set<string>> {
    return this.present('d', deviceIds);
  }

  start(events: PresenceEvents): void {
    this.events = events;
    const beat = () =>
      this.heartbeat().catch((err: Error) => this.log.warn({ err: err.message }, 'presence heartbeat failed'));
    void beat();
    this.timer = setInterval(beat, this.heartbeatMs);
    this.timer.unref();
  }

  private async heartbeat(): Promise<void> {
    await this.redis.set(`${P}alive:${this.instanceId}`, '1', { PX: this.leaseMs });
    const added = Number(await this.redis.sAdd(`${P}instances`, this.instanceId));
    const reaped = added === 1 && this.beats++ > 0;
    if (reaped) this.log.warn('presence lease lapsed and this instance was reaped; registering its sockets again');
    if (reaped || this.dirty) await this.resync();
    const instances = await this.redis.sMembers(`${P}instances`);
    for (const inst of instances) {
      if (inst === this.instanceId) continue;
      if (await this.redis.exists(`${P}alive:${inst}`)) continue;
      const reaped = (await this.redis.eval(REAP, { keys: [], arguments: [inst, P] })) as Array<string | number>;
      const offline: PresenceChange[] = [];
      for (let i = 0; i + 1 < reaped.length; i += 2) offline.push({ userId: String(reaped[i]), seq: Number(reaped[i + 1]) });
      if (offline.length) {
        this.log.info({ instance: inst, users: offline.length }, 'reaped a dead instance: its users are offline');
        this.events.offline(offline);
      }
    }
  }

  /**
   * Makes Redis match this instance's local counts: after it was reaped while alive (a pause
   * longer than the lease) or after a failed write. Reports users that came online or went
   * offline in the process.
   */
  private async resync(): Promise<void> {
    this.dirty = false;
    try {
      const online: PresenceChange[] = [];
      const offline: PresenceChange[] = [];
      for (const kind of ['d', 'u'] as const) {
        const local = kind === 'u' ? this.users : this.devices;
        for (const id of local.keys()) {
          const seq = await this.add(kind, id);
          if (seq !== null) online.push({ userId: id, seq });
        }
        for (const id of await this.redis.sMembers(this.instKey(kind))) {
          if (local.has(id)) continue;
          const seq = await this.remove(kind, id);
          if (seq !== null) offline.push({ userId: id, seq });
        }
      }
      if (online.length) this.events.online(online);
      if (offline.length) this.events.offline(offline);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Sockets have been closed (and reported) before this; drop what is left of our lease.
    await Promise.allSettled([
      this.redis.del([`${P}alive:${this.instanceId}`, this.instKey('u'), this.instKey('d')]),
      this.redis.sRem(`${P}instances`, this.instanceId),
    ]);
  }
}
