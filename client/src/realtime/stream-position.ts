/**
 * Where this client is in each channel's stream (contract v2, "The channel stream"): the seq up
 * to which it holds every event, and the seqs above that it already holds.
 *
 * The position is the contiguous one, not the highest seq seen: an `ack` of our own send can
 * arrive before messages of others with lower seqs that are still on their way, and resuming
 * from the ack's seq would skip them for good.
 *
 * @example
 * const pos = new StreamPositions();
 * pos.begin('c1', 4);          // `subscribed` said lastSeq 4
 * pos.accept('c1', 6);         // 'ahead': held, 5 is missing
 * pos.accept('c1', 5);         // 'next': now at 6
 * pos.accept('c1', 6);         // 'duplicate'
 * pos.get('c1');               // 6: resubscribe with sinceSeq 6
 */

/**
 * - next: the event after the position (the position moved, over held ones too)
 * - ahead: a later event, held; the ones between are missing
 * - duplicate: at or below the position, or held already
 * - untracked: the channel has no position yet (never subscribed)
 */
export type Arrival = 'next' | 'ahead' | 'duplicate' | 'untracked';

interface Position {
  /** Every event with a seq up to this one is held. */
  upTo: number;
  /** Seqs above `upTo` that are held too. */
  above: Set<number>;
}

export class StreamPositions {
  private readonly channels = new Map<string, Position>();

  /** The seq up to which every event of the channel is held, or undefined when unknown. */
  get(channelId: string): number | undefined {
    return this.channels.get(channelId)?.upTo;
  }

  /** True while an event above the position is held and one below it is missing. */
  hasGap(channelId: string): boolean {
    return (this.channels.get(channelId)?.above.size ?? 0) > 0;
  }

  /** The first subscription's starting point: the channel's lastSeq. A known position is kept. */
  begin(channelId: string, lastSeq: number): void {
    if (!this.channels.has(channelId)) this.channels.set(channelId, { upTo: lastSeq, above: new Set() });
  }

  /** Records an event; says whether it was news, and how it fits. */
  accept(channelId: string, seq: number): Arrival {
    const p = this.channels.get(channelId);
    if (!p) return 'untracked';
    if (seq <= p.upTo || p.above.has(seq)) return 'duplicate';
    if (seq !== p.upTo + 1) {
      p.above.add(seq);
      return 'ahead';
    }
    p.upTo = seq;
    this.advance(p);
    return 'next';
  }

  /**
   * The server says every event up to `seq` was sent (a subscription that was not truncated):
   * the position moves there even past events this client could not read (a frame type it
   * does not know), so it never asks for them again and again.
   */
  reached(channelId: string, seq: number): void {
    const p = this.channels.get(channelId);
    if (!p || seq <= p.upTo) return;
    p.upTo = seq;
    for (const s of p.above) if (s <= seq) p.above.delete(s);
    this.advance(p);
  }

  forget(channelId: string): void {
    this.channels.delete(channelId);
  }

  private advance(p: Position): void {
    while (p.above.delete(p.upTo + 1)) p.upTo++;
  }
}
