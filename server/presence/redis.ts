/**
 * Presence across instances, in Redis, with per-instance leases.
 *
 * Keys: `relay:pres:u:<user>` and `relay:pres:d:<device>` are sets of instance ids holding a
 * socket of that user/device; `relay:pres:inst:<id>:u|d` list what an instance holds (for
 * reaping); `relay:pres:alive:<id>` is the instance's lease (PX TTL refreshed by heartbeat);
 * `relay:pres:instances` lists instances.
 *
 * Guarantees:
 * - Transitions are decided atomically in Redis (SADD/SREM + SCARD in one script), so concurrent
 *   arrivals and departures on different instances produce exactly one online and one offline
 *   event for a user's whole session of sockets.
 * - Only an instance's first local socket of a user touches Redis; more tabs are local counts.
 * - An instance that dies without cleaning up loses its lease within `leaseMs`; the next
 *   heartbeat of any survivor claims it (SREM on the instance list: exactly one claimant) and
 *   reports its users offline. With boundMs = PRESENCE_TTL_MS, users turn offline within
 *   0.6·bound (lease) + 0.2·bound (heartbeat) of the crash.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { RedisClient } from '../redis.js';
import { Counter } from './local.js';
import type { PresenceTracker } from './presence.js';

const P = 'relay:pres:';
const ADD = `redis.call('SADD', KEYS[1], ARGV[1]); redis.call('SADD', KEYS[2], ARGV[2]); return redis.call('SCARD', KEYS[1])`;
const REMOVE = `redis.call('SREM', KEYS[1], ARGV[1]); redis.call('SREM', KEYS[2], ARGV[2]); return redis.call('SCARD', KEYS[1])`;

export class RedisPresence implements PresenceTracker {
  readonly instanceId: string = randomUUID();
  private readonly users = new Counter();
  private readonly devices = new Counter();
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private timer?: NodeJS.Timeout;
  private onOffline: (userIds: string[]) => void = () => {};

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

  async connect(userId: string, deviceId: string): Promise<boolean> {
    if (this.devices.inc(deviceId) === 1) {
      await this.redis.eval(ADD, { keys: [this.key('d', deviceId), this.instKey('d')], arguments: [this.instanceId, deviceId] });
    }
    if (this.users.inc(userId) !== 1) return false;
    const n = await this.redis.eval(ADD, { keys: [this.key('u', userId), this.instKey('u')], arguments: [this.instanceId, userId] });
    return Number(n) === 1;
  }

  async disconnect(userId: string, deviceId: string): Promise<boolean> {
    if (this.devices.dec(deviceId) === 0) {
      await this.redis.eval(REMOVE, { keys: [this.key('d', deviceId), this.instKey('d')], arguments: [this.instanceId, deviceId] });
    }
    if (this.users.dec(userId) !== 0) return false;
    const n = await this.redis.eval(REMOVE, { keys: [this.key('u', userId), this.instKey('u')], arguments: [this.instanceId, userId] });
    return Number(n) === 0;
  }

  private async present(kind: 'u' | 'd', ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const counts = await Promise.all(ids.map((id) => this.redis.sCard(this.key(kind, id))));
    return new Set(ids.filter((_, i) => Number(counts[i]) > 0));
  }

  onlineUsers(userIds: string[]): Promise<Set<string>> {
    return this.present('u', userIds);
  }
  onlineDevices(deviceIds: string[]): Promise<Set<string>> {
    return this.present('d', deviceIds);
  }

  start(onOffline: (userIds: string[]) => void): void {
    this.onOffline = onOffline;
    const beat = () =>
      this.heartbeat().catch((err: Error) => this.log.warn({ err: err.message }, 'presence heartbeat failed'));
    void beat();
    this.timer = setInterval(beat, this.heartbeatMs);
    this.timer.unref();
  }

  private async heartbeat(): Promise<void> {
    await this.redis.set(`${P}alive:${this.instanceId}`, '1', { PX: this.leaseMs });
    await this.redis.sAdd(`${P}instances`, this.instanceId);
    const instances = await this.redis.sMembers(`${P}instances`);
    for (const inst of instances) {
      if (inst === this.instanceId) continue;
      if (await this.redis.exists(`${P}alive:${inst}`)) continue;
      // Exactly one survivor wins the claim and reaps the dead instance.
      if (Number(await this.redis.sRem(`${P}instances`, inst)) !== 1) continue;
      const offline = await this.reap(inst);
      if (offline.length) {
        this.log.info({ instance: inst, users: offline.length }, 'reaped a dead instance: its users are offline');
        this.onOffline(offline);
      }
    }
  }

  private async reap(inst: string): Promise<string[]> {
    const offline: string[] = [];
    for (const userId of await this.redis.sMembers(this.instKey('u', inst))) {
      const n = await this.redis.eval(REMOVE, { keys: [this.key('u', userId), this.instKey('u', inst)], arguments: [inst, userId] });
      if (Number(n) === 0) offline.push(userId);
    }
    for (const deviceId of await this.redis.sMembers(this.instKey('d', inst))) {
      await this.redis.sRem(this.key('d', deviceId), inst);
    }
    await this.redis.del([this.instKey('u', inst), this.instKey('d', inst)]);
    return offline;
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
