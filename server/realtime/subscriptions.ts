/**
 * Channel subscriptions of sockets: `subscribe` with its replay, `unsubscribe`, and a socket's
 * catch-up when it cannot take an event in order (SUB1–SUB4, SEQ3, SEQ4).
 *
 * Guarantees:
 * - A replay (the events after `sinceSeq`, or after the message id `since`) goes out before any
 *   live event of the channel; live events that arrive meanwhile are held (at most
 *   REPLAY_HOLD_MAX, then read back from the database) and each goes out once, in seq order.
 * - A socket never receives a stream event that does not follow on from the last one it has:
 *   a gap is filled from the database first (catch-up), or, past the replay cap, the
 *   subscription says `truncated` and sends nothing more until the client subscribes again.
 */
import type pg from 'pg';
import { LIMITS } from '../../shared/codes.js';
import type { ClientFrameOf } from '../../shared/protocol.js';
import type { Config } from '../config.js';
import { isMember, loadChannel } from '../messaging/channels.js';
import { position } from '../messaging/read-state.js';
import { channelPolicy } from '../messaging/policy.js';
import type { Db } from '../db/client.js';
import type { PresenceReader } from '../presence/presence.js';
import type { Connection, Subscription } from './connection.js';
import { readStreamEvents } from './delivery.js';
import type { ChannelHub } from './hub.js';

/** A catch-up that still cannot follow on after this many reads gives up (the socket is too slow). */
const CATCH_UP_ROUNDS = 5;

interface Deps {
  config: Pick<Config, 'ws'>;
  db: Db;
  pool: pg.Pool;
  hub: ChannelHub;
  presence: PresenceReader;
}

export class Subscriptions {
  constructor(private readonly deps: Deps) {}

  async subscribe(conn: Connection, frame: ClientFrameOf<'subscribe'>): Promise<void> {
    const { db, pool, hub } = this.deps;
    const channel = await loadChannel(db, frame.channelId);
    // SUB2: a channel that is not yours looks the same whether or not it exists.
    const refused = channelPolicy.participate(channel, conn.userId);
    if (refused || !channel) return conn.send({ type: 'error', code: 'forbidden', message: refused ?? '', ref: frame.ref });
    if (!conn.open) return;
    const already = conn.channels.has(channel.id);
    const sub = conn.beginReplay(channel.id);
    // A channel_removed (or an unsubscribe) during any await below ends this subscription: the
    // rest is skipped, and nothing is undone twice.
    const ended = () => !conn.open || conn.channels.get(channel.id) !== sub;
    // PRES1: presence events wait in the hub until the snapshot below is out, then go only if
    // they are not older than it.
    hub.holdPresence(channel.id, conn);
    let done = false;
    try {
      if (!already) {
        await hub.join(channel.id, conn);
        // From here on a channel_removed for this user ends the subscription; one that went by
        // while the channel was loading did not, so membership is checked once more.
        if (!(await isMember(db, channel.id, conn.userId))) {
          conn.send({ type: 'error', code: 'forbidden', message: 'Not a member of this channel', ref: frame.ref });
          return;
        }
      }
      if (ended()) return;
      // Read after the topic is subscribed: every event after `lastSeq` reaches this instance
      // on the bus or through repair, so the stream can start from it (SEQ4).
      const where = await position(pool, channel.id, conn.userId);
      if (!where) {
        conn.send({ type: 'error', code: 'forbidden', message: 'Not a member of this channel', ref: frame.ref });
        if (!ended()) this.unsubscribe(conn, channel.id);
        return;
      }
      const { lastSeq, readSeq } = where;
      const start =
        frame.sinceSeq !== undefined
          ? Math.min(frame.sinceSeq, lastSeq)
          : frame.since
            ? await seqBeforeId(pool, channel.id, frame.since)
            : lastSeq;
      if (ended()) return;
      sub.sent = start;
      const truncated = sub.sent < lastSeq ? await this.replay(conn, sub, channel.id) : false;
      if (ended()) return;
      sub.behind = truncated;
      hub.stream(channel.id)?.base(lastSeq);
      const { online, seqs } = await this.deps.presence.snapshot(channel.memberIds);
      if (ended()) return;
      hub.notePresence(seqs);
      const presence = Object.fromEntries(channel.memberIds.map((id) => [id, online.has(id) ? 'online' : 'offline']));
      conn.send({
        type: 'subscribed',
        channelId: channel.id,
        presence,
        lastSeq: Math.max(lastSeq, sub.sent),
        readSeq,
        ...(truncated ? { truncated } : {}),
        ref: frame.ref,
      });
      done = true;
    } finally {
      // A subscription ended by someone else was undone by them.
      if (!ended()) {
        if (done || already) {
          hub.releasePresence(channel.id, conn);
          if (!conn.endReplay(channel.id)) await this.catchUp(conn, channel.id);
        } else {
          // The subscription failed half-way: undo it, so no live message reaches a socket that
          // never got `subscribed` (the handler answers internal_error).
          this.unsubscribe(conn, channel.id);
        }
      }
    }
  }

  unsubscribe(conn: Connection, channelId: string): void {
    if (conn.removeChannel(channelId)) this.deps.hub.leave(channelId, conn);
  }

  /**
   * SEQ3: the socket missed events (its held frames overflowed, or one arrived that does not
   * follow on): send the missing ones from the database, then what was held meanwhile.
   */
  async catchUp(conn: Connection, channelId: string): Promise<void> {
    for (let round = 0; round < CATCH_UP_ROUNDS; round++) {
      const sub = conn.channels.get(channelId);
      if (!conn.open || !sub || sub.behind) return;
      conn.beginReplay(channelId);
      let truncated: boolean;
      try {
        truncated = await this.replay(conn, sub, channelId);
      } catch {
        // The database cannot be asked: a subscription left holding would stay silent for good,
        // so the client reconnects and resubscribes from its last seq instead (1013).
        return conn.close('try_again_later');
      }
      if (conn.channels.get(channelId) !== sub) return;
      // A socket more than a replay's worth behind on a live channel is not keeping up: it
      // reconnects and resubscribes from its last seq (1008), instead of growing a backlog here.
      if (truncated) return conn.close('slow_consumer');
      if (conn.endReplay(channelId)) return;
    }
    conn.close('slow_consumer');
  }

  /**
   * Sends the channel's events after `sub.sent`, oldest first, at most LIMITS.replayMax and about
   * LIMITS.replayMaxBytes; returns true when it stopped at a cap with more to send (SUB3).
   */
  private async replay(conn: Connection, sub: Subscription, channelId: string): Promise<boolean> {
    const events = await readStreamEvents(this.deps.pool, channelId, sub.sent, LIMITS.replayMax + 1);
    // SUB3: a replay is written in one go, so it is also capped in bytes (500 long messages are
    // ~8 MB): past the budget it stops and says `truncated`, instead of counting as a slow
    // consumer's backlog and closing a healthy socket on every reconnect. The budget is the
    // socket's, not the replay's: a client resubscribing many channels at once must not stack
    // one budget per channel on a link that has not drained.
    const unsent = conn.socket.bufferedAmount;
    let budget = Math.min(LIMITS.replayMaxBytes, this.deps.config.ws.maxBufferedBytes / 2) - unsent;
    let sentAny = false;
    for (const [i, event] of events.entries()) {
      if (i === LIMITS.replayMax) return true;
      budget -= event.frame.length;
      // On a drained socket at least one event goes, so a replay always moves forward.
      if (budget < 0 && (sentAny || unsent > 0)) return true;
      conn.sendRaw(event.frame);
      sub.sent = event.seq;
      sentAny = true;
    }
    return false;
  }
}

/** v1 `since` (a message id) as a stream position: ids and seqs grow together in a channel. */
async function seqBeforeId(pool: pg.Pool, channelId: string, messageId: string): Promise<number> {
  const { rows } = await pool.query<{ seq: string }>({
    name: 'relay_seq_before_id',
    text: 'SELECT COALESCE(max(seq), 0) AS seq FROM messages WHERE channel_id = $1::uuid AND id <= $2::bigint',
    values: [channelId, messageId],
  });
  return Number(rows[0]?.seq ?? 0);
}
