/**
 * Our read cursor per channel and the unread and mention counts that follow from it
 * (contract v2, "Read state"), kept right without asking the server after every event.
 *
 * The server's counts (GET /api/channels) are the base: they cover the messages up to the
 * channel's lastSeq at that moment (`upTo`). Messages held in memory (history pages and live
 * ones) are counted here: `unread` = messages after the cursor, from others, not deleted.
 * - While the held messages cover everything after the cursor (the cursor is at or past the
 *   base's `upTo`, or the loaded history reaches back to it) the count is exact from them alone.
 * - Otherwise it is the base plus the held messages after `upTo`. That is right while the base
 *   was computed for the current cursor; when it no longer is (the cursor moved to somewhere
 *   in the middle on another device, a message we do not hold was deleted, the stream began
 *   after `upTo`), the base is stale and the channel list is fetched again (debounced by the
 *   caller): never a count per event, and nothing is guessed.
 */
import type { Message } from '../../../shared/api.js';

export interface Counts {
  unread: number;
  mentions: number;
}

interface Base extends Counts {
  /** The channel's lastSeq the server counted up to. */
  upTo: number;
  /** The cursor the server counted from. */
  from: number;
}

/** The messages of a channel held in memory, and whether they reach back far enough. */
export interface Held {
  messages: readonly Message[];
  /** Every message after the oldest one held is held (a loaded conversation). */
  contiguous: boolean;
  /** There is nothing older than the oldest message held. */
  complete: boolean;
}

export class ReadState {
  private readonly cursors = new Map<string, number>();
  private readonly bases = new Map<string, Base>();

  constructor(
    private readonly me: string,
    /** The base of a channel no longer matches: fetch the channel list again. */
    private readonly onStale: (channelId: string) => void,
  ) {}

  readSeq(channelId: string): number | undefined {
    return this.cursors.get(channelId);
  }

  /** The server's numbers for the channel (GET /api/channels, or the answer to POST …/read). */
  fromServer(channelId: string, s: { readSeq: number; unread: number; mentions: number; lastSeq: number }): void {
    const mine = this.cursors.get(channelId) ?? 0;
    // A move of ours the server had not seen yet when it answered: its counts are for an older
    // cursor, so the exact count (or the next fetch) has to do.
    if (s.readSeq < mine) return this.onStale(channelId);
    this.cursors.set(channelId, s.readSeq);
    this.bases.set(channelId, { unread: s.unread, mentions: s.mentions, upTo: Math.max(s.lastSeq, s.readSeq), from: s.readSeq });
  }

  /** The cursor moved (a `read` event of ours, our own send, `subscribed`). Forward only. Returns whether it moved. */
  moveTo(channelId: string, seq: number): boolean {
    const now = this.cursors.get(channelId);
    if (now !== undefined && seq <= now) return false;
    this.cursors.set(channelId, seq);
    const base = this.bases.get(channelId);
    if (base && seq < base.upTo && seq !== base.from) this.onStale(channelId);
    return true;
  }

  /** The stream of the channel starts at `lastSeq`: messages between the base and it will not arrive live. */
  streamStarts(channelId: string, lastSeq: number): void {
    const base = this.bases.get(channelId);
    const cursor = this.cursors.get(channelId) ?? 0;
    if (base && lastSeq > base.upTo && cursor < lastSeq) this.onStale(channelId);
  }

  /** A message was deleted or edited; `held` says whether we hold it (then the count sees the change itself). */
  changed(channelId: string, held: boolean): void {
    const base = this.bases.get(channelId);
    if (!held && base && (base.unread > 0 || base.mentions > 0)) this.onStale(channelId);
  }

  forget(channelId: string): void {
    this.cursors.delete(channelId);
    this.bases.delete(channelId);
  }

  counts(channelId: string, held: Held): Counts {
    const cursor = this.cursors.get(channelId) ?? 0;
    const base = this.bases.get(channelId);
    const oldest = held.messages[0]?.seq;
    const reachesCursor = held.contiguous && (held.complete || (oldest !== undefined && oldest <= cursor + 1));
    const exact = !base || cursor >= base.upTo || reachesCursor;
    const after = exact ? cursor : base.upTo;
    let unread = 0;
    let mentions = 0;
    for (const m of held.messages) {
      if (m.seq <= after || m.senderId === this.me || m.deletedAt) continue;
      unread++;
      if (m.mentions.includes(this.me)) mentions++;
    }
    if (!exact) {
      unread += base.unread;
      mentions += base.mentions;
    }
    return { unread, mentions };
  }
}
