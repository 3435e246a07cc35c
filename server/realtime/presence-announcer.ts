/**
 * Presence events out of this instance (PRES1): for each transition a user makes here, one
 * `presence` frame on the topic of each of their channels.
 */
import type pg from 'pg';
import { describeError, type Logger } from '../logger.js';
import type { PresenceTracker } from '../presence/presence.js';
import type { ChannelHub } from './hub.js';

export class PresenceAnnouncer {
  /** Per user, the tail of this instance's announcements. */
  private readonly order = new Map<string, Promise<void>>();

  constructor(private readonly deps: { pool: pg.Pool; hub: ChannelHub; log: Logger; presence: Pick<PresenceTracker, 'reaffirm'> }) {}

  /** Announcements still going out; shutdown waits for them (SHUT1). */
  pending(): IterableIterator<Promise<void>> {
    return this.order.values();
  }

  /**
   * PRES1: one instance's presence events for a user go out in the order they were decided.
   * Each announcement reads the user's channels first; without this chain a quick connect and
   * close could publish `offline` before `online` and leave observers with the wrong state.
   * Across instances no chain helps: there the transition's seq (decided with it in Redis) lets
   * every receiver drop an event that arrives after a later one (ChannelHub).
   */
  announce(userId: string, status: 'online' | 'offline', seq: number): Promise<void> {
    const next = (this.order.get(userId) ?? Promise.resolve()).then(() => this.publish(userId, status, seq));
    this.order.set(userId, next);
    void next.then(() => {
      if (this.order.get(userId) === next) this.order.delete(userId);
    });
    return next;
  }

  private async publish(userId: string, status: 'online' | 'offline', decidedSeq: number): Promise<void> {
    try {
      const { rows } = await this.deps.pool.query<{ channel_id: string }>({
        name: 'relay_user_channels',
        text: 'SELECT channel_id FROM channel_members WHERE user_id = $1',
        values: [userId],
      });
      if (rows.length === 0) return;
      // However long the read (or the queue before it) took, the event goes out with a seq that
      // receivers can order: a receiver takes an event a minute older than the last one it
      // delivered for a counter reset, so an event that late must never be published (see
      // PRESENCE_SEQ_RESET_GAP_US). Checked right before the publishes, which leave at once.
      const seq = await this.deps.presence.reaffirm(userId, decidedSeq).catch((err: Error) => {
        // Redis did not answer (the bus is Redis too): publish as decided, receivers order it.
        this.deps.log.warn({ err: describeError(err) }, 'presence seq not rechecked');
        return decidedSeq;
      });
      if (seq === null) return; // superseded long ago: the later transition's own event carries the state
      await Promise.all(
        rows.map(({ channel_id: channelId }) =>
          // The envelope carries the user and seq for ordering; the client frame stays as in the contract.
          this.deps.hub.publish(channelId, 'p', userId, String(seq), JSON.stringify({ type: 'presence', channelId, userId, status })),
        ),
      );
    } catch (err) {
      this.deps.log.warn({ err: describeError(err) }, 'presence event not published');
    }
  }
}
