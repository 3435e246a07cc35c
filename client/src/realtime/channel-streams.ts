/**
 * The channels a realtime client keeps subscribed, and where it is in each one's stream: what
 * every subscribe asks for, which stream frames are news, and when to ask again.
 *
 * Guarantees:
 * - Each channel's events count once: a frame at or below the channel's contiguous position
 *   (stream-position.ts), or held already, is a duplicate. Every subscribe after the first, on
 *   any connection, asks for the events after that position (`sinceSeq`), and a `truncated`
 *   replay is continued from it until the channel has caught up.
 * - A hole in a stream is repaired by subscribing again from the position: at once when a
 *   `message` frame shows it (a socket gets a channel's events in order, so it will not fill by
 *   itself), after gapTimeoutMs when only our own ack ran ahead of messages still on their way.
 * - At most one subscribe per channel is in flight; a reason to ask again meanwhile is kept
 *   until it is answered.
 *
 * @example
 * const streams = new ChannelStreams(host, { gapTimeoutMs: 10_000, resubscribeDelayMs: 1_000 });
 * streams.add(channelId);                 // subscribed now if live, and on every connection
 * streams.resumeAll();                    // on `authenticated`
 * const news = streams.onMessage(frame.seq, frame.message.channelId);   // null: a duplicate
 */
import type { ClientFrame, ServerFrameOf } from '../../../shared/protocol.js';
import { StreamPositions } from './stream-position.js';

/** What the streams need of the connection that carries them. */
export interface StreamHost {
  /** Writes a frame on the current socket; dropped when there is none. */
  write(frame: ClientFrame): void;
  live(): boolean;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface StreamOptions {
  /** Our ack ran ahead of messages this long without them arriving: subscribe again from the position. */
  gapTimeoutMs: number;
  /** A truncated replay that brought nothing new is asked again after this long, not in a tight loop. */
  resubscribeDelayMs: number;
}

export class ChannelStreams {
  private readonly channels = new Set<string>();
  private readonly positions = new StreamPositions();
  /** Channels whose subscribe awaits its `subscribed`, with the position it asked from. */
  private readonly subscribing = new Map<string, number | undefined>();
  /** Channels to subscribe again once the subscribe in flight is answered. */
  private readonly again = new Set<string>();
  /** Channels whose replay is in flight: their message frames are history, not news. */
  private readonly replaying = new Set<string>();
  /** A later resubscribe per channel (a hole our ack left, a truncated replay that stalled). */
  private readonly timers = new Map<string, unknown>();

  constructor(
    private readonly host: StreamHost,
    private readonly opts: StreamOptions,
  ) {}

  has(channelId: string): boolean {
    return this.channels.has(channelId);
  }

  /** The seq up to which every event of the channel has arrived (undefined before its first `subscribed`). */
  position(channelId: string): number | undefined {
    return this.positions.get(channelId);
  }

  /** Keeps the channel subscribed on this and every future connection. */
  add(channelId: string): void {
    if (this.channels.has(channelId)) return;
    this.channels.add(channelId);
    if (this.host.live()) this.subscribe(channelId);
  }

  /** Unsubscribes; the position is forgotten, so a later subscribe starts afresh. */
  remove(channelId: string): void {
    if (!this.dropped(channelId)) return;
    if (this.host.live()) this.host.write({ type: 'unsubscribe', channelId });
  }

  /** The server ended the subscription (removed from the channel, or refused). Returns whether it was held. */
  dropped(channelId: string): boolean {
    const had = this.channels.delete(channelId);
    this.positions.forget(channelId);
    this.subscribing.delete(channelId);
    this.again.delete(channelId);
    this.replaying.delete(channelId);
    this.clearTimer(channelId);
    return had;
  }

  /** A connection went live: every channel is subscribed from its position. */
  resumeAll(): void {
    for (const channelId of this.channels) this.subscribe(channelId);
  }

  /** Subscriptions in flight die with the socket; the next connection asks from each position anyway. */
  connectionLost(): void {
    for (const t of this.timers.values()) this.host.clearTimeout(t);
    this.timers.clear();
    this.subscribing.clear();
    this.again.clear();
    this.replaying.clear();
  }

  onSubscribed(frame: ServerFrameOf<'subscribed'>): void {
    const channelId = frame.channelId;
    const from = this.subscribing.get(channelId);
    this.subscribing.delete(channelId);
    this.replaying.delete(channelId);
    if (!this.channels.has(channelId)) return;
    if (this.positions.get(channelId) === undefined) this.positions.begin(channelId, frame.lastSeq);
    // Not truncated: the server sent every event up to lastSeq (SEQ4).
    else if (!frame.truncated) this.positions.reached(channelId, frame.lastSeq);
    if (frame.truncated) {
      // Nothing more of this channel comes until we ask again from where the replay stopped.
      this.again.delete(channelId);
      if ((this.positions.get(channelId) ?? 0) > (from ?? 0)) this.resubscribe(channelId);
      else this.resubscribeLater(channelId, this.opts.resubscribeDelayMs, false);
    } else if (this.again.delete(channelId)) {
      this.resubscribe(channelId);
    } else if (this.positions.hasGap(channelId)) {
      this.resubscribeLater(channelId, this.opts.gapTimeoutMs, true);
    }
  }

  /** A `message` frame: null for a duplicate, else whether it came in a replay. */
  onMessage(seq: number, channelId: string): { replay: boolean } | null {
    const arrival = this.positions.accept(channelId, seq);
    if (arrival === 'duplicate') return null;
    const replay = this.replaying.has(channelId);
    // During a replay `subscribed` settles the position; otherwise the hole is for good.
    if (arrival === 'ahead' && !replay) this.resubscribe(channelId);
    return { replay };
  }

  /** The message of our own ack: false for a duplicate. */
  onAck(seq: number, channelId: string): boolean {
    const arrival = this.positions.accept(channelId, seq);
    if (arrival === 'duplicate') return false;
    // The ack is written at once; others' messages with lower seqs may still be on their way
    // on this socket's stream. They get a while before we ask for them.
    if (arrival === 'ahead') this.resubscribeLater(channelId, this.opts.gapTimeoutMs, true);
    return true;
  }

  /**
   * A frame this client could not read (a newer server's event type): if it is a stream event,
   * it still takes its seq, so the position moves past it instead of asking for it forever.
   */
  onUnreadable(json: unknown): void {
    if (typeof json !== 'object' || json === null) return;
    const f = json as { seq?: unknown; channelId?: unknown; message?: { channelId?: unknown } };
    const channelId = typeof f.channelId === 'string' ? f.channelId : f.message?.channelId;
    if (typeof channelId === 'string' && typeof f.seq === 'number' && Number.isSafeInteger(f.seq)) this.positions.accept(channelId, f.seq);
  }

  private subscribe(channelId: string): void {
    const sinceSeq = this.positions.get(channelId);
    this.subscribing.set(channelId, sinceSeq);
    if (sinceSeq !== undefined) this.replaying.add(channelId);
    this.host.write({ type: 'subscribe', channelId, ...(sinceSeq !== undefined ? { sinceSeq } : {}), ref: `sub:${channelId}` });
  }

  private resubscribe(channelId: string): void {
    this.clearTimer(channelId);
    if (!this.host.live() || !this.channels.has(channelId)) return;
    if (this.subscribing.has(channelId)) this.again.add(channelId);
    else this.subscribe(channelId);
  }

  /** `ifGap`: only if the hole is still there by then (the missing messages usually arrive first). */
  private resubscribeLater(channelId: string, ms: number, ifGap: boolean): void {
    if (this.timers.has(channelId)) return;
    this.timers.set(
      channelId,
      this.host.setTimeout(() => {
        this.timers.delete(channelId);
        if (!ifGap || this.positions.hasGap(channelId)) this.resubscribe(channelId);
      }, ms),
    );
  }

  private clearTimer(channelId: string): void {
    const t = this.timers.get(channelId);
    if (t !== undefined) this.host.clearTimeout(t);
    this.timers.delete(channelId);
  }
}
