/**
 * Live revocation on this instance (REV1–REV3).
 *
 * Guarantees: a device revoked anywhere loses its sockets here as soon as the bus event arrives;
 * a socket whose token was checked just before the event registers only after it went by, so
 * the event is remembered for two minutes and checked when a socket registers; and a missed
 * event is caught by the periodic sweep of the database, which fails closed: two failed sweeps
 * in a row close every authenticated socket with 1013, spread in random order over
 * `failureSpreadMs` so that their reconnects do not land at once on a database that is
 * already struggling. A sweep that succeeds meanwhile has checked the devices left: it stops
 * the spread.
 */
import type pg from 'pg';
import { revokedDeviceReason, type RevocationReason } from '../../shared/codes.js';
import type { ControlEvent } from '../bus/bus.js';
import { describeError, type Logger } from '../logger.js';
import type { Connection } from './connection.js';

const REVOKED_MEMORY_MS = 120_000;
/** REV3: how often the fail-closed spread closes the sockets that are due. */
const SPREAD_TICK_MS = 100;

/** Sockets being closed 1013 over the window, in random order: `conns[done..]` are still due. */
interface Spread {
  conns: Connection[];
  done: number;
  startedAt: number;
  timer: NodeJS.Timeout;
}

export class Revocations {
  /** Revocations heard on the bus recently (device id → reason, time), oldest first. */
  private readonly recentlyRevoked = new Map<string, { reason: RevocationReason; at: number }>();
  private sweepFailures = 0;
  private spread?: Spread;

  constructor(
    private readonly deps: {
      pool: pg.Pool;
      log: Logger;
      /** The live sockets of each device on this instance. */
      devices: ReadonlyMap<string, ReadonlySet<Connection>>;
      authenticated: () => Iterable<Connection>;
      /** REV3: the window the fail-closed 1013s are spread over (0: all at once). */
      failureSpreadMs: number;
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
      // The devices of the sockets still waiting for their 1013 were just checked.
      this.stop();
      const seen = new Map(rows.map((r) => [r.id, r]));
      for (const deviceId of deviceIds) {
        const row = seen.get(deviceId);
        if (!row) this.closeDevice(deviceId, 'device_revoked');
        else if (row.disabled) this.closeDevice(deviceId, 'account_disabled');
        else if (row.revoked) this.closeDevice(deviceId, revokedDeviceReason(row.reason));
      }
    } catch (err) {
      // Fail closed: sockets whose devices cannot be checked twice in a row are sent away.
      this.sweepFailures += 1;
      this.deps.log.error({ err: describeError(err), failures: this.sweepFailures }, 'revocation sweep failed');
      if (this.sweepFailures >= 2) this.failClosed();
    }
  }

  /**
   * REV3: every authenticated socket is closed 1013, the sockets in random order and evenly
   * spread over the window (one close at once, the last one tick before the window ends), so
   * each instance sends its clients back a few at a time. A spread under way is left to finish:
   * sockets authenticated since then had their device read at authentication.
   */
  private failClosed(): void {
    if (this.spread) return;
    const conns = [...this.deps.authenticated()];
    if (conns.length === 0) return;
    for (let i = conns.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [conns[i], conns[j]] = [conns[j], conns[i]];
    }
    const timer = setInterval(() => this.closeDue(), SPREAD_TICK_MS);
    timer.unref();
    this.spread = { conns, done: 0, startedAt: Date.now(), timer };
    this.closeDue();
  }

  private closeDue(): void {
    const spread = this.spread;
    if (!spread) return;
    const { conns } = spread;
    const window = this.deps.failureSpreadMs;
    const elapsed = Date.now() - spread.startedAt;
    const due = window > 0 ? Math.min(conns.length, Math.floor((elapsed / window) * conns.length) + 1) : conns.length;
    while (spread.done < due) conns[spread.done++].close('try_again_later');
    if (spread.done >= conns.length) this.stop();
  }

  /** Stops a fail-closed spread under way (a sweep succeeded, or shutdown). */
  stop(): void {
    if (!this.spread) return;
    clearInterval(this.spread.timer);
    this.spread = undefined;
  }
}
