/**
 * Single-process presence: counts of authenticated sockets per user and per device in memory.
 * `connect`/`disconnect` report the transitions (first socket in, last socket out) that produce
 * presence events, so ten tabs of one user do not flap.
 */
import type { PresenceReader } from './presence.js';

export class LocalPresence implements PresenceReader {
  private readonly users = new Map<string, number>();
  private readonly devices = new Map<string, number>();

  /** Returns true when this is the user's first socket (the user just came online). */
  connect(userId: string, deviceId: string): boolean {
    this.devices.set(deviceId, (this.devices.get(deviceId) ?? 0) + 1);
    const n = (this.users.get(userId) ?? 0) + 1;
    this.users.set(userId, n);
    return n === 1;
  }

  /** Returns true when this was the user's last socket (the user just went offline). */
  disconnect(userId: string, deviceId: string): boolean {
    const d = (this.devices.get(deviceId) ?? 1) - 1;
    if (d <= 0) this.devices.delete(deviceId);
    else this.devices.set(deviceId, d);
    const n = (this.users.get(userId) ?? 1) - 1;
    if (n <= 0) {
      this.users.delete(userId);
      return true;
    }
    this.users.set(userId, n);
    return false;
  }

  async onlineUsers(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.users.has(id)));
  }

  async onlineDevices(deviceIds: string[]): Promise<Set<string>> {
    return new Set(deviceIds.filter((id) => this.devices.has(id)));
  }
}
