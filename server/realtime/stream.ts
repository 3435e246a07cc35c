/**
 * One channel's stream on one instance: its events go to the local subscribers in seq order,
 * each once, without a gap (SEQ2).
 *
 * Events arrive from the bus (any instance's publish, in any order, some never) and from this
 * instance's own sends. An event that follows the last one delivered goes out at once; one that
 * does not is held, and if the missing events have not arrived within `gapWaitMs` they are read
 * from the database, then everything goes out in order. An event already delivered is dropped.
 * A lost *last* event leaves no gap to notice: `repairTo` is how the tail check and a bus
 * reconnect say "the database has events up to here" (SEQ5, SEQ6; see repair.ts).
 *
 * Memory: at most STREAM_HOLD_MAX held events per channel; past that, events are dropped and
 * read back from the database instead (they are durable before they are published).
 */

/** A stream event ready to send: its seq, its frame, and the socket that must not get it. */
export interface StreamEvent {
  seq: number;
  frame: Buffer;
  /** The sending socket (it gets an `ack` instead); '' for none. */
  skip: string;
}

export interface StreamDeps {
  /** The channel's events after `afterSeq`, in seq order, at most `limit` (from the database). */
  read(channelId: string, afterSeq: number, limit: number): Promise<StreamEvent[]>;
  /** Hands an event, in order, to the channel's local subscribers. */
  fanOut(channelId: string, event: StreamEvent): void;
  onRepairFailed(channelId: string, err: unknown): void;
  /** How long a gap may wait for the missing events to arrive on the bus before they are read. */
  gapWaitMs: number;
}

export const STREAM_HOLD_MAX = 1_000;
const REPAIR_PAGE = 500;
/** After a failed read (database unreachable), the next try. */
const REPAIR_RETRY_MS = 1_000;
/** A read that has not answered by then (a half-open connection) counts as failed. */
export const REPAIR_READ_TIMEOUT_MS = 10_000;

/** Rejects when `work` has not settled within `ms`. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  work.catch(() => {}); // a late failure after the deadline is nobody's business
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Runs at most `n` calls of `fn` at once, the rest in turn: after a bus reconnect every stream
 * repairs at once, and the pool must keep serving sends and HTTP meanwhile.
 */
export function limitConcurrency<A extends unknown[], R>(fn: (...args: A) => Promise<R>, n: number): (...args: A) => Promise<R> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (...args: A) => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await fn(...args);
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
}

export class ChannelStream {
  /**
   * The seq of the last event delivered to local subscribers; null until the first subscriber
   * has read the channel's position from the database (`base`). Events held until then.
   */
  delivered: number | null = null;
  /** The highest seq known to exist (seen on the bus or in the database). */
  private known = 0;
  private readonly held = new Map<number, StreamEvent>();
  private repairing = false;
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** The database's last seq seen by the previous tail check (repair.ts). */
  lastChecked = 0;

  constructor(
    readonly channelId: string,
    private readonly deps: StreamDeps,
  ) {}

  /**
   * Everything up to `seq` is committed and the caller's subscriber has it (a replay or a
   * position read after the topic was subscribed): later events follow on from it.
   */
  base(seq: number): void {
    if (this.delivered !== null) return;
    this.delivered = seq;
    this.known = Math.max(this.known, seq);
    this.drain();
  }

  offer(event: StreamEvent): void {
    if (this.closed) return;
    if (this.delivered !== null) {
      if (event.seq <= this.delivered) return;
      if (event.seq === this.delivered + 1) {
        this.delivered = event.seq;
        this.deps.fanOut(this.channelId, event);
        if (this.held.size > 0) this.drain();
        return;
      }
    }
    if (this.held.size < STREAM_HOLD_MAX) this.held.set(event.seq, event);
    this.known = Math.max(this.known, event.seq);
    if (this.delivered !== null) this.schedule(this.deps.gapWaitMs);
  }

  /** The database has events up to `seq`: read the ones not delivered yet, now. */
  repairTo(seq: number): void {
    this.known = Math.max(this.known, seq);
    if (this.delivered !== null && this.delivered < this.known) void this.repair();
  }

  /** Whether events are known to be missing. */
  get behind(): boolean {
    return this.delivered !== null && this.delivered < this.known;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.held.clear();
  }

  /** Delivers held events that follow on; drops those already delivered. */
  private drain(): void {
    if (this.delivered === null) return;
    for (let next = this.held.get(this.delivered + 1); next; next = this.held.get(this.delivered + 1)) {
      this.held.delete(next.seq);
      this.delivered = next.seq;
      this.deps.fanOut(this.channelId, next);
    }
    for (const seq of this.held.keys()) if (seq <= this.delivered) this.held.delete(seq);
    if (this.behind) this.schedule(this.deps.gapWaitMs);
  }

  private schedule(ms: number): void {
    if (this.timer || this.repairing || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.repair();
    }, ms);
    this.timer.unref?.();
  }

  private async repair(): Promise<void> {
    if (this.repairing || this.closed || this.delivered === null) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.repairing = true;
    let failed = false;
    try {
      for (let at = this.delivered; !this.closed && at < this.known; at = this.delivered ?? at) {
        const events: StreamEvent[] = await withTimeout(this.deps.read(this.channelId, at, REPAIR_PAGE), REPAIR_READ_TIMEOUT_MS, 'stream repair read');
        let moved = false;
        for (const event of events) {
          if (this.closed || this.delivered === null || event.seq <= this.delivered) continue;
          // The database is the truth: a seq it does not have (a row deleted with its sender)
          // never will arrive, so the stream moves past it instead of waiting for it forever.
          // The bus's copy of an event names the socket to skip (its sender got an ack).
          const copy = this.held.get(event.seq) ?? event;
          this.held.delete(event.seq);
          this.delivered = event.seq;
          this.deps.fanOut(this.channelId, copy);
          moved = true;
        }
        if (moved) continue;
        // Nothing newer in the database than what was delivered. Either the bus delivered what
        // this read found while it ran (then read again from there: the loop moves on, since
        // every event read was past `at`), or the database has nothing after it: what is held
        // or expected beyond is gone (its rows deleted with their channel or sender). Drop it
        // instead of waiting for it forever.
        if (events.length > 0) continue;
        this.held.clear();
        this.known = this.delivered ?? at;
        break;
      }
    } catch (err) {
      failed = true;
      this.deps.onRepairFailed(this.channelId, err);
    } finally {
      this.repairing = false;
    }
    if (this.closed) return;
    if (failed) this.schedule(REPAIR_RETRY_MS);
    else this.drain();
  }
}
