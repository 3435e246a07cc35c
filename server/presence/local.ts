/** Single-process presence: counts of authenticated sockets per user and per device, in memory. */
import type { PresenceSnapshot, PresenceTracker } from './presence.js';

export class Counter {
  private readonly counts = new Map<string, number>();
  /** Returns the new count. */
  inc(key: string): number {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n;
  }
  /** Returns the new count (never below 0). */
  dec(key: string): number {
    const n = (this.counts.get(key) ?? 0) - 1;
    if (n <= 0) {
      this.counts.delete(key);
      return 0;
    }
    this.counts.set(key, n);
    return n;
  }
  has(key: string): boolean {
    return this.counts.has(key);
  }
  keys(): string[] {
    return [...this.counts.keys()];
  }
}

export class LocalPresence implements PresenceTracker {
  private readonly users = new Counter();
  private readonly devices = new Counter();
  /** One process decides every transition: one counter orders them all (per user included). */
  private seq = 0;

  async connect(userId: string, deviceId: string): Promise<number | null> {
    this.devices.inc(deviceId);
    return this.users.inc(userId) === 1 ? ++this.seq : null;
  }

  async disconnect(userId: string, deviceId: string): Promise<number | null> {
    this.devices.dec(deviceId);
    return this.users.dec(userId) === 0 ? ++this.seq : null;
  }

  /** One process announces each user's transitions in decision order, on an in-process bus: nothing is late. */
  async reaffirm(_userId: string, seq: number): Promise<number | null> {
    return seq;
  }

  /**
   * Nothing to hold: `connect` settles in microtasks, so shutdown cannot begin between the
   * count and the gateway's announcement, and watchers are in this process (closing too).
   */
  drain(): void {}

  async onlineUsers(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.users.has(id)));
  }

  /** One process publishes each user's events in decision order: no seqs are needed to seed. */
  async snapshot(userIds: string[]): Promise<PresenceSnapshot> {
    return { online: await this.onlineUsers(userIds), seqs: new Map() };
  }

  async onlineDevices(deviceIds: string[]): Promise<Set<string>> {
    return new Set(deviceIds.filter((id) => this.devices.has(id)));
  }

  start(): void {}
  async stop(): Promise<void> {}
}
