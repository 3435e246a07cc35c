/**
 * Live revocation on this instance (REV1–REV3).
 *
 * Guarantees: a device revoked anywhere loses its sockets here as soon as the bus event arrives;
 * a socket whose token was checked just before the event registers only after it went by, so
 * the event is remembered for two minutes and checked when a socket registers; and a missed
 * event is caught by the periodic sweep of the database, which fails closed (two failed sweeps
 * in a row close every authenticated socket with 1013).
 */
import type pg from 'pg';
import type { RevocationReason } from '../../shared/codes.js';
import type { ControlEvent } from '../bus/bus.js';
import { describeError, type Logger } from '../logger.js';
import type { Connection } from './connection.js';

const REVOKED_MEMORY_MS = 120_000;

export class Revocations {
  /** Revocations heard on the bus recently (device id → reason, time), oldest first. */
  private readonly recentlyRevoked = new Map<string, { reason: RevocationReason; at: number }>();
  private sweepFailures = 0;

  constructor(
    private readonly deps: {
      pool: pg.Pool;
      log: Logger;
      /** The live sockets of each device on this instance. */
      devices: ReadonlyMap<string, ReadonlySet<Connection>>;
      authenticated: () => Iterable<Connection>;
    },
  ) {}

  /** A revocation of this device heard in the last two minutes, if any. */
  recent(deviceId: string): { reason: RevocationReason } | undefined {
    return this.recentlyRevoked.get(deviceId);
  }

  onControl(payload: string): void {
    let event: ControlEvent;
    try {
      event = JSON.parse(payload) as ControlEvent;
    } catch {
      return;
    }
    if (event.kind === 'revoke_devices') {
      const now = Date.now();
      for (const deviceId of event.deviceIds) {
        this.recentlyRevoked.delete(deviceId); // re-inserted at the end: the map stays in time order
        this.recentlyRevoked.set(deviceId, { reason: event.reason, at: now });
        this.closeDevice(deviceId, event.reason);
      }
      // A token check takes milliseconds; two minutes of memory is plenty, and bounds the map.
      for (const [id, r] of this.recentlyRevoked) {
        if (now - r.at < REVOKED_MEMORY_MS) break;
        this.recentlyRevoked.delete(id);
      }
    }
  }

  private closeDevice(deviceId: string, reason: RevocationReason): void {
    const conns = this.deps.devices.get(deviceId);
    if (!conns) return;
    for (const conn of [...conns]) conn.close(reason);
  }

  /** REV3: the backstop for a missed bus event: re-check every live device in the database. */
  async sweep(): Promise<void> {
    const deviceIds = [...this.deps.devices.keys()];
    if (deviceIds.length === 0) return;
    try {
      const { rows } = await this.deps.pool.query<{ id: string; revoked: boolean; reason: string | null; disabled: boolean }>(
        `SELECT d.id, d.revoked_at IS NOT NULL AS revoked, d.revoked_reason AS reason, u.disabled
           FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ANY($1::uuid[])`,
        [deviceIds],
      );
      this.sweepFailures = 0;
      const seen = new Map(rows.map((r) => [r.id, r]));
      for (const deviceId of deviceIds) {
        const row = seen.get(deviceId);
        if (!row) this.closeDevice(deviceId, 'device_revoked');
        else if (row.disabled) this.closeDevice(deviceId, 'account_disabled');
        else if (row.revoked) this.closeDevice(deviceId, row.reason === 'logged_out' ? 'logged_out' : 'device_revoked');
      }
    } catch (err) {
      // Fail closed: sockets whose devices cannot be checked twice in a row are sent away.
      this.sweepFailures += 1;
      this.deps.log.error({ err: describeError(err), failures: this.sweepFailures }, 'revocation sweep failed');
      if (this.sweepFailures >= 2) for (const conn of this.deps.authenticated()) conn.close('try_again_later');
    }
  }
}
