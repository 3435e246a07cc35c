/**
 * `send`, `edit`, `delete`, `read` and `typing` from a socket (MSG1–MSG3, EDIT1–EDIT3,
 * READ1–READ3, TYP1, SEQ7).
 *
 * Guarantees: a message is acknowledged only after it is stored; a retried clientMsgId is
 * acknowledged with the stored message and never stored twice, and its event is published again
 * so subscribers who missed the first publish get it (they drop it by seq if they have it). An
 * edit or deletion is answered after it is stored, then goes to every subscriber as a stream
 * event with its own seq. A read cursor that moved reaches all the reader's sockets, and in a
 * direct channel the other member's too.
 */
import type pg from 'pg';
import type { ClientFrameOf, ServerFrame } from '../../shared/protocol.js';
import type { EventBus } from '../bus/bus.js';
import type { Logger } from '../logger.js';
import { deleteMessage, editMessage, type ChangeResult } from '../messaging/changes.js';
import { announceRead, notifyUsers } from '../messaging/channels.js';
import { storeMessage } from '../messaging/messages.js';
import { moveReadCursor } from '../messaging/read-state.js';
import type { Metrics } from '../ops/metrics.js';
import type { Connection } from './connection.js';
import type { StreamPublisher } from './delivery.js';
import type { ChannelHub } from './hub.js';

const TYPING_THROTTLE_MS = 2_000;

export class Messaging {
  private readonly typingSentAt = new Map<string, number>();

  constructor(
    private readonly deps: { pool: pg.Pool; bus: EventBus; log: Logger; metrics: Metrics; hub: ChannelHub; publisher: StreamPublisher },
  ) {}

  async send(conn: Connection, frame: ClientFrameOf<'send'>): Promise<void> {
    const result = await storeMessage(this.deps.pool, {
      channelId: frame.channelId,
      senderId: conn.userId,
      clientMsgId: frame.clientMsgId,
      body: frame.body,
    }).catch((err: Error & { code?: string }) => {
      // A channel id that is not a uuid cannot be a channel the user belongs to.
      if (err.code === '22P02') return { ok: false as const, reason: 'forbidden' as const };
      throw err;
    });
    if (!result.ok && result.reason === 'client_msg_id_reused') {
      return conn.send({ type: 'error', code: 'invalid_message', message: 'clientMsgId: already used for a message in another channel', ref: frame.ref });
    }
    if (!result.ok) {
      return conn.send({ type: 'error', code: 'forbidden', message: 'Not a member of this channel', ref: frame.ref });
    }
    const { message, duplicate } = result;
    if (!duplicate) this.deps.metrics.messagesStored.inc();
    // A duplicate is published again: the instance that stored it may have died before its
    // publish (SEQ7). Subscribers that have it drop it by its seq.
    this.deps.publisher.publish(message, conn.id);
    // READ1: sending moved the sender's cursor to the message; their other sockets learn it.
    if (!duplicate) {
      const event: ServerFrame = { type: 'read', channelId: message.channelId, userId: conn.userId, seq: message.seq };
      void notifyUsers(this.deps, [conn.userId], event, conn.id);
    }
    conn.send({ type: 'ack', clientMsgId: frame.clientMsgId, message, ref: frame.ref });
  }

  async typing(conn: Connection, frame: ClientFrameOf<'typing'>): Promise<void> {
    // TYP1: only a subscribed member types; subscribing checked membership, and removal from the
    // channel drops the subscription (channel_removed).
    if (!conn.channels.has(frame.channelId)) {
      return conn.send({ type: 'error', code: 'forbidden', message: 'Subscribe to the channel first', ref: frame.ref });
    }
    const key = `${conn.userId}:${frame.channelId}`;
    const now = Date.now();
    if (now - (this.typingSentAt.get(key) ?? 0) < TYPING_THROTTLE_MS) return;
    this.typingSentAt.set(key, now);
    if (this.typingSentAt.size > 10_000) {
      for (const [k, t] of this.typingSentAt) if (now - t > TYPING_THROTTLE_MS) this.typingSentAt.delete(k);
    }
    await this.deps.hub
      .publish(frame.channelId, 't', conn.userId, '', JSON.stringify({ type: 'typing', channelId: frame.channelId, userId: conn.userId }))
      .catch(() => {});
  }

  async edit(conn: Connection, frame: ClientFrameOf<'edit'>): Promise<void> {
    const result = await editMessage(this.deps.pool, { channelId: frame.channelId, messageId: frame.messageId, actorId: conn.userId, body: frame.body });
    if (!this.refused(conn, result, frame.ref) && result.ok) {
      this.deps.publisher.publishRecord(result.record, conn.id);
      conn.send({ type: 'edited', seq: result.record.seq, message: result.record.message, ref: frame.ref });
    }
  }

  async delete(conn: Connection, frame: ClientFrameOf<'delete'>): Promise<void> {
    const result = await deleteMessage(this.deps.pool, { channelId: frame.channelId, messageId: frame.messageId, actorId: conn.userId, ip: conn.info.ip });
    if (!this.refused(conn, result, frame.ref) && result.ok) {
      this.deps.publisher.publishRecord(result.record, conn.id);
      conn.send({ type: 'deleted', channelId: frame.channelId, messageId: frame.messageId, seq: result.record.seq, ref: frame.ref });
    }
  }

  /** READ1–READ3: the cursor moves forward only; the socket that asked gets `read` with its ref. */
  async read(conn: Connection, frame: ClientFrameOf<'read'>): Promise<void> {
    const result = await moveReadCursor(this.deps.pool, { channelId: frame.channelId, userId: conn.userId, seq: frame.seq }).catch(
      (err: Error & { code?: string }) => {
        if (err.code === '22P02') return null;
        throw err;
      },
    );
    if (!result) return conn.send({ type: 'error', code: 'forbidden', message: 'Not a member of this channel', ref: frame.ref });
    const event: ServerFrame = { type: 'read', channelId: frame.channelId, userId: conn.userId, seq: result.state.readSeq };
    conn.send({ ...event, ref: frame.ref });
    if (result.moved) await announceRead(this.deps, event, result, conn.id);
  }

  private refused(conn: Connection, result: ChangeResult, ref: string | undefined): boolean {
    if (result.ok) return false;
    const message = result.reason === 'not_found' ? 'No such message in this channel' : 'Only the sender may do that';
    conn.send({ type: 'error', code: result.reason, message, ref });
    return true;
  }
}
