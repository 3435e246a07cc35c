/**
 * Repair of the channel streams from the database: what no later event reveals (SEQ5, SEQ6).
 *
 * - Tail check: every STREAM_CHECK_MS one query reads the last seq of every channel with local
 *   subscribers. A channel whose stream has still not delivered what the previous check saw is
 *   repaired from the database. An event stored at time T is therefore delivered by
 *   T + 2 × STREAM_CHECK_MS plus a read (under 10 s) even when its publish was lost and nothing
 *   follows it. Waiting one interval before repairing keeps events that are merely on their way
 *   on the bus from costing a read.
 * - Bus reconnect: events published while the bus was down are lost for every topic, so every
 *   stream is compared with the database at once, and once more a moment later (the subscriber
 *   re-subscribes its topics after it reconnects).
 */
import type pg from 'pg';
import type { EventBus } from '../bus/bus.js';
import type { Logger } from '../logger.js';
import { describeError } from '../logger.js';
import { lastSeqs } from '../messaging/messages.js';
import type { ChannelHub } from './hub.js';
import { REPAIR_READ_TIMEOUT_MS, withTimeout } from './stream.js';

export const STREAM_CHECK_MS = 3_000;
const RECHECK_AFTER_RECONNECT_MS = 1_000;
/** Channel ids per query. */
const CHECK_CHUNK = 5_000;

export class StreamRepair {
  private timer?: NodeJS.Timeout;
  private recheck?: NodeJS.Timeout;
  private checking = false;
  /** A check asked for while one ran: run again when it ends (`now` if any asked for it). */
  private again?: { now: boolean };
  private stopped = false;

  constructor(
    private readonly deps: { hub: ChannelHub; pool: pg.Pool; bus: EventBus; log: Logger; checkMs?: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(false), this.deps.checkMs ?? STREAM_CHECK_MS);
    this.timer.unref();
    this.deps.bus.onReconnect?.(() => {
      this.deps.log.info('bus reconnected; repairing channel streams from the database');
      void this.check(true);
      clearTimeout(this.recheck);
      this.recheck = setTimeout(() => void this.check(true), RECHECK_AFTER_RECONNECT_MS);
      this.recheck.unref();
    });
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.recheck);
  }

  /**
   * Compares every stream with the database. `now`: repair whatever is missing at once (after a
   * bus reconnect); otherwise only what was already missing at the previous check.
   */
  async check(now: boolean): Promise<void> {
    if (this.stopped) return;
    if (this.checking) {
      this.again = { now: now || (this.again?.now ?? false) };
      return;
    }
    this.checking = true;
    try {
      const streams = [...this.deps.hub.allStreams()].filter((s) => s.delivered !== null);
      for (let i = 0; i < streams.length; i += CHECK_CHUNK) {
        const chunk = streams.slice(i, i + CHECK_CHUNK);
        const seqs = await withTimeout(
          lastSeqs(
            this.deps.pool,
            chunk.map((s) => s.channelId),
          ),
          REPAIR_READ_TIMEOUT_MS,
          'stream tail check',
        );
        for (const stream of chunk) {
          const last = seqs.get(stream.channelId);
          if (last === undefined || stream.delivered === null) continue;
          if (now) stream.repairTo(last);
          else if (stream.delivered < stream.lastChecked) stream.repairTo(Math.max(stream.lastChecked, last));
          stream.lastChecked = last;
        }
      }
    } catch (err) {
      this.deps.log.warn({ err: describeError(err) }, 'stream tail check failed; retrying at the next one');
    } finally {
      this.checking = false;
    }
    const again = this.again;
    this.again = undefined;
    if (again) await this.check(again.now);
  }
}
