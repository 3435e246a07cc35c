/**
 * Presence across instances, in Redis, with per-instance leases. The keys and the scripts that
 * change them are in scripts.ts (one hash tag: cluster-safe; EVALSHA).
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
 * - An instance that stops reaps itself the same way, after its sockets' departures had their
 *   chance: a departure that did not reach Redis in time (Redis slow, the shutdown's wait over)
 *   cannot leave its user online for ever. After that it writes nothing that would name it.
 * - An instance that was only paused past its lease and got reaped notices on its next
 *   heartbeat (it is no longer listed) and registers its sockets again, reporting users online.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import { Counter } from './local.js';
import { PRESENCE_LATE_US, type PresenceChange, type PresenceEvents, type PresenceSnapshot, type PresenceTracker } from './presence.js';
import { ADD, REAFFIRM, REAP, REMOVE, SNAPSHOT, presenceKeys as K, runScript, type PresenceScript, type ScriptRunner } from './scripts.js';

/**
 * What presence needs of Redis: a node-redis client (the app's) or a cluster client (tests). Every
 * command names its keys, all under one hash tag (scripts.ts).
 */
export interface PresenceRedis extends ScriptRunner {
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
  sAdd(key: string, member: string): Promise<unknown>;
  sMembers(key: string): Promise<unknown>;
  exists(key: string): Promise<unknown>;
  sCard(key: string): Promise<unknown>;
}

/** A reap whose index keeps changing under it (a live instance) gives up after this many reads. */
const REAP_ATTEMPTS = 5;
/**
 * How long `stop` waits for a heartbeat in flight, and for its own reap, when Redis is slow: past
 * that the lease does the rest (it lapses and a survivor reaps this instance), so shutdown goes on.
 */
const STOP_WAIT_MS = 2_000;

/** Resolves with the promise's value, or rejects once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export class RedisPresence implements PresenceTracker {
  readonly instanceId: string = randomUUID();
  private readonly users = new Counter();
  private readonly devices = new Counter();
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private timer?: NodeJS.Timeout;
  /** The heartbeat in flight: one at a time, and `stop` waits for it before reaping itself. */
  private beating?: Promise<void>;
  private beats = 0;
  private dirty = false;
  private draining = false;
  private stopping = false;
  /** Online transitions made while draining, not returned by `connect` (see `drain`). */
  private readonly held = new Map<string, number>();
  private events: PresenceEvents = { offline: () => {}, online: () => {} };

  constructor(
    private readonly redis: PresenceRedis,
    private readonly log: Logger,
    boundMs: number,
  ) {
    this.leaseMs = Math.max(300, Math.round(boundMs * 0.6));
    this.heartbeatMs = Math.max(100, Math.round(boundMs * 0.2));
  }

  async connect(userId: string, deviceId: string): Promise<number | null> {
    // The counts are the truth for this instance; Redis follows (and is reconciled if it fails).
    const firstDevice = this.devices.inc(deviceId) === 1;
    const firstUser = this.users.inc(userId) === 1;
    return this.dirtyOnFailure(async () => {
      if (firstDevice) await this.add('d', deviceId);
      if (!firstUser) return null;
      const seq = await this.add('u', userId);
      if (seq === null || !this.draining) return seq;
      this.held.set(userId, seq);
      return null;
    });
  }

  async disconnect(userId: string, deviceId: string): Promise<number | null> {
    const lastDevice = this.devices.dec(deviceId) === 0;
    const lastUser = this.users.dec(userId) === 0;
    return this.dirtyOnFailure(async () => {
      if (lastDevice) await this.remove('d', deviceId);
      if (!lastUser) return null;
      const seq = await this.remove('u', userId);
      const held = this.held.get(userId);
      if (held !== undefined) {
        this.held.delete(userId);
        // Not offline after all: the user is online on another instance, and nobody was told.
        if (seq === null) this.events.online([{ userId, seq: held }]);
      }
      return seq;
    });
  }

  drain(): void {
    this.draining = true;
  }

  /** Adds this instance to a user's/device's set; for a user, the seq when that made them online (first anywhere), else null. */
  private add(kind: 'u' | 'd', id: string): Promise<number | null> {
    // Stopping: this instance is leaving (or has left) presence; a set naming it now would name
    // it for ever, since nobody reaps an instance that is no longer listed.
    if (this.stopping) return Promise.resolve(null);
    return this.transition(ADD, kind, id);
  }

  /** Removes this instance from a user's/device's set; for a user, the seq when that made them offline (last anywhere), else null. */
  private remove(kind: 'u' | 'd', id: string): Promise<number | null> {
    return this.transition(REMOVE, kind, id);
  }

  private async transition(script: PresenceScript, kind: 'u' | 'd', id: string): Promise<number | null> {
    const keys = [kind === 'u' ? K.user(id) : K.device(id), K.index(this.instanceId, kind)];
    if (kind === 'u') keys.push(K.seq, K.last(id));
    const seq = Number(await runScript(this.redis, script, keys, [this.instanceId, id]));
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

  async reaffirm(userId: string, seq: number): Promise<number | null> {
    const out = Number(await runScript(this.redis, REAFFIRM, [K.last(userId), K.seq], [String(seq), String(PRESENCE_LATE_US)]));
    return out > 0 ? out : null;
  }

  async onlineUsers(userIds: string[]): Promise<Set<string>> {
    return (await this.snapshot(userIds)).online;
  }

  /** Who is online, with each user's last transition seq (PRES1), in one round trip. */
  async snapshot(userIds: string[]): Promise<PresenceSnapshot> {
    const online = new Set<string>();
    const seqs = new Map<string, number>();
    if (userIds.length === 0) return { online, seqs };
    const keys = userIds.flatMap((id) => [K.user(id), K.last(id)]);
    const out = (await runScript(this.redis, SNAPSHOT, keys, [])) as unknown[];
    userIds.forEach((id, i) => {
      if (Number(out[2 * i]) > 0) online.add(id);
      const seq = Number(out[2 * i + 1]);
      if (seq > 0) seqs.set(id, seq);
    });
    return { online, seqs };
  }

  async onlineDevices(deviceIds: string[]): Promise<Set<string>> {
    if (deviceIds.length === 0) return new Set();
    const counts = await Promise.all(deviceIds.map((id) => this.redis.sCard(K.device(id))));
    return new Set(deviceIds.filter((_, i) => Number(counts[i]) > 0));
  }

  start(events: PresenceEvents): void {
    this.events = events;
    const beat = () => {
      if (this.beating || this.stopping) return;
      this.beating = this.heartbeat()
        .catch((err: Error) => this.log.warn({ err: err.message }, 'presence heartbeat failed'))
        .finally(() => (this.beating = undefined));
    };
    beat();
    this.timer = setInterval(beat, this.heartbeatMs);
    this.timer.unref();
  }

  private async heartbeat(): Promise<void> {
    await this.redis.set(K.alive(this.instanceId), '1', { PX: this.leaseMs });
    if (this.stopping) return;
    const added = Number(await this.redis.sAdd(K.instances, this.instanceId));
    const reaped = added === 1 && this.beats++ > 0;
    if (reaped) this.log.warn('presence lease lapsed and this instance was reaped; registering its sockets again');
    if (reaped || this.dirty) await this.resync();
    const instances = (await this.redis.sMembers(K.instances)) as string[];
    for (const inst of instances) {
      if (inst === this.instanceId || this.stopping) continue;
      if (Number(await this.redis.exists(K.alive(inst)))) continue;
      const offline = await this.reap(inst, false);
      if (offline.length) {
        this.log.info({ instance: inst, users: offline.length }, 'reaped a dead instance: its users are offline');
        this.events.offline(offline);
      }
    }
  }

  /**
   * Takes an instance out of presence (REAP in scripts.ts): a dead one (`self` false: only if its
   * lease has lapsed, and only by one reaper) or this one as it stops. Returns the users it left
   * with no instance, with their offline transitions' seqs.
   */
  private async reap(inst: string, self: boolean): Promise<PresenceChange[]> {
    for (let attempt = 1; ; attempt++) {
      // The script must be given every key it touches: read the instance's index first.
      const [users, devices] = (await Promise.all([this.redis.sMembers(K.index(inst, 'u')), this.redis.sMembers(K.index(inst, 'd'))])) as string[][];
      const keys = [K.alive(inst), K.instances, K.index(inst, 'u'), K.index(inst, 'd'), K.seq];
      for (const u of users) keys.push(K.user(u), K.last(u));
      for (const d of devices) keys.push(K.device(d));
      const out = (await runScript(this.redis, REAP, keys, [inst, self ? '1' : '0', String(users.length), ...users, ...devices])) as unknown[];
      const status = Number(out[0]);
      if (status === -1) {
        if (attempt < REAP_ATTEMPTS) continue; // the index changed since it was read
        throw new Error(`presence index of instance ${inst} kept changing while being reaped`);
      }
      const offline: PresenceChange[] = [];
      if (status !== 1) return offline;
      for (let i = 1; i + 1 < out.length; i += 2) offline.push({ userId: String(out[i]), seq: Number(out[i + 1]) });
      return offline;
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
        for (const id of (await this.redis.sMembers(K.index(this.instanceId, kind))) as string[]) {
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

  /**
   * Leaves presence (PRES2, SHUT1). The gateway calls this after its sockets have closed and
   * their departures had their (bounded) wait; whatever Redis still holds for this instance is
   * removed in one script, and its users with no other instance are reported offline (the
   * gateway announces them while the bus is still up).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.held.clear();
    try {
      // A heartbeat in flight could register this instance again after the reap: it goes first.
      if (this.beating) await within(this.beating, STOP_WAIT_MS, 'the last presence heartbeat');
      const offline = await within(this.reap(this.instanceId, true), STOP_WAIT_MS, 'leaving presence');
      if (offline.length) {
        this.log.info({ users: offline.length }, 'this instance left presence: users who were only here are offline');
        this.events.offline(offline);
      }
    } catch (err) {
      // Still listed (or listed again) with its lease: the lease lapses within leaseMs and a
      // survivor reaps this instance (PRES2).
      this.log.warn({ err: (err as Error).message }, 'presence: could not remove this instance; it is reaped once its lease lapses');
    }
  }
}
