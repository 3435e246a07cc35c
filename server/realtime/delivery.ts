/**
 * Stream events out of this instance: the frame of a stored event, its delivery to this
 * instance's subscribers, and its publish to the others (SEQ2, SEQ7).
 *
 * A stored event is offered to the local stream at once (local subscribers do not wait for the
 * bus round trip) and published in the background. A publish that fails is retried a few times;
 * if it still fails, nothing is promised that the code does not do: the other instances' tail
 * check (repair.ts) reads the event from the database within STREAM_CHECK_MS × 2.
 */
import type pg from 'pg';
import type { Message } from '../../shared/api.js';
import type { Logger } from '../logger.js';
import { describeError } from '../logger.js';
import { eventsAfter, type StreamRecord } from '../messaging/messages.js';
import type { ChannelHub } from './hub.js';
import type { StreamEvent } from './stream.js';

/** Waits between publish attempts of one event (then the tail check takes over). */
const PUBLISH_RETRY_MS = [100, 500, 2_000];

/** The stream frame of any event: each carries the event's seq at its top level. */
export function streamFrame(record: StreamRecord): string {
  const { kind, seq, message } = record;
  if (kind === 'message') return JSON.stringify({ type: 'message', seq, message });
  if (kind === 'edit') return JSON.stringify({ type: 'message_updated', seq, message });
  return JSON.stringify({ type: 'message_deleted', channelId: message.channelId, messageId: message.id, seq });
}

/** Reads a channel's events after `afterSeq` as stream events (no socket skipped). */
export async function readStreamEvents(pool: pg.Pool, channelId: string, afterSeq: number, limit: number): Promise<StreamEvent[]> {
  const records = await eventsAfter(pool, channelId, afterSeq, limit);
  return records.map((r) => ({ seq: r.seq, frame: Buffer.from(streamFrame(r)), skip: '' }));
}

export class StreamPublisher {
  /** Publishes still trying; shutdown waits for them (bounded) so an ack's event is not lost. */
  readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly hub: ChannelHub,
    private readonly log: Logger,
  ) {}

  /**
   * Delivers a stored message to every subscriber on every instance; `skipConnId` is the
   * sending socket, which gets an ack instead. Also used for a retry answered as a duplicate:
   * subscribers that missed the first publish (its instance died before it) get it now, and
   * those that have it drop it by its seq.
   */
  publish(message: Message, skipConnId: string): void {
    this.publishRecord({ kind: 'message', seq: message.seq, message }, skipConnId);
  }

  /** Any stored event (a message, an edit, a deletion); `skipConnId` got its own answer. */
  publishRecord(record: StreamRecord, skipConnId: string): void {
    const { channelId } = record.message;
    const frame = streamFrame(record);
    this.hub.offerLocal(channelId, { seq: record.seq, frame: Buffer.from(frame), skip: skipConnId });
    const attempt = this.publishWithRetry(channelId, record.seq, skipConnId, frame).finally(() => this.inFlight.delete(attempt));
    this.inFlight.add(attempt);
  }

  private async publishWithRetry(channelId: string, seq: number, skip: string, frame: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.hub.publishEvent(channelId, seq, skip, frame);
        return;
      } catch (err) {
        const wait = PUBLISH_RETRY_MS[attempt];
        if (wait === undefined) {
          this.log.warn(
            { err: describeError(err), channelId, seq },
            'stream event stored but not published; other instances read it from the database at their next tail check',
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }
}
