/**
 * One socket's state machine: awaiting_auth → authenticating → authenticated → closed.
 * Frames are handled strictly in arrival order on one promise chain, so frames that arrive
 * while the token is being verified wait for it instead of being lost or reordered. Every
 * teardown goes through `close(reason)`, whose code comes from the contract's table.
 *
 * The chain is bounded (FLOW7): the rate limiter counts frames, not time, so a database slower
 * than a frame's share would let it grow without end. Past WORK_QUEUE_MAX queued tasks the
 * socket is no longer read; the frames that the network read in progress still brings are
 * parked as text (at most one read) and fed to the chain as it drains; below WORK_QUEUE_RESUME,
 * with nothing parked, reading resumes.
 */
import { CLOSE_REASONS, type CloseReason } from '../../shared/codes.js';
import type { HubMember } from './hub.js';
import type { TokenBucket } from './limiter.js';
import type { ConnectionHandle, ConnectionInfo, GatewaySocket } from './socket.js';

export type ConnectionState = 'awaiting_auth' | 'authenticating' | 'authenticated' | 'closed';

/** The gateway's side of every connection: one object shared by all of them. */
export interface ConnectionHooks {
  onMessage(conn: Connection, text: string): void;
  /** Called once, when the connection leaves every index (any close path). */
  onClosed(conn: Connection, reason: CloseReason | 'peer_closed'): void;
  /** An unexpected failure inside a queued task (a bug): reported, then the socket is closed. */
  onTaskFailed(conn: Connection, err: unknown): void;
  maxBufferedBytes: number;
}

/**
 * Per-socket state is kept small (an idle authenticated socket is mostly this object): no
 * closures or timers of its own; token expiry is driven by the gateway's shared ticker, and the
 * channel set and replay bookkeeping exist only once used.
 */
export class Connection implements HubMember, ConnectionHandle {
  state: ConnectionState = 'awaiting_auth';
  userId = '';
  deviceId = '';
  /** Token expiry (epoch ms) and when to send `token_expiring`; checked by the gateway's ticker. */
  expiresAt = 0;
  warnAt = 0;
  /** (v2) The nonce the next proof must sign; consumed by the frame that uses it (POP2). */
  nonce?: string;
  /** Set once presence has counted this socket, so only counted sockets are uncounted. */
  inPresence = false;
  /** A close is decided: nothing more is read, frames accepted before it are still answered. */
  draining = false;
  /** `authenticated` has gone out: user events are sent as they come (AUTH6). */
  private welcomed = false;
  /** User events that came before `authenticated` went out, in order (AUTH6, MSG5). */
  private early?: Array<string | Buffer>;
  /** Per subscribed channel, where this socket is in the channel's stream (SEQ3). */
  private subs?: Map<string, Subscription>;
  private chain: Promise<void> = Promise.resolve();
  /** Tasks on the chain not yet finished (FLOW7). */
  private queuedTasks = 0;
  /** Frames read while the chain was full, in arrival order, from `parkedHead` on (FLOW7). */
  private parked?: string[];
  private parkedHead = 0;
  private readingPaused = false;
  /** Only while awaiting authentication (AUTH3). */
  authTimer?: NodeJS.Timeout;

  constructor(
    readonly id: string,
    readonly socket: GatewaySocket,
    readonly info: ConnectionInfo,
    readonly bucket: TokenBucket,
    private readonly hooks: ConnectionHooks,
  ) {}

  get open(): boolean {
    return this.state !== 'closed';
  }

  /** The channels this socket is subscribed to. */
  get channels(): ReadonlyMap<string, Subscription> {
    return this.subs ?? EMPTY;
  }

  /**
   * Starts (or restarts) a subscription: live frames of the channel are held until
   * `endReplay`, so a replay read from the database goes out first.
   */
  beginReplay(channelId: string): Subscription {
    let sub = this.subs?.get(channelId);
    if (!sub) {
      sub = { sent: 0 };
      (this.subs ??= new Map()).set(channelId, sub);
    }
    sub.pending = [];
    sub.pendingBytes = 0;
    sub.overflowed = false;
    sub.behind = false;
    return sub;
  }

  /** Returns true when the socket was subscribed to the channel. */
  removeChannel(channelId: string): boolean {
    return this.subs?.delete(channelId) ?? false;
  }

  /**
   * Ends the hold: held frames go out in order after the replay, each stream event once (SEQ3).
   * Returns false when held events were dropped (overflow) or do not follow on from `sent`: the
   * caller then reads the missing ones from the database (`beginReplay` again).
   */
  endReplay(channelId: string): boolean {
    const sub = this.subs?.get(channelId);
    const held = sub?.pending;
    if (!sub || !held) return true;
    sub.pending = undefined;
    // Typing, presence and member changes are not in the database: they go out whatever
    // happens to the held stream events, which can be read back.
    const others = sub.others;
    sub.others = undefined;
    if (others) for (const frame of others) this.sendRaw(frame);
    if (sub.overflowed) return false;
    for (const event of held) if (!this.emit(sub, event.frame, event.seq, event.skip)) return false;
    return true;
  }

  /** Tasks (frames, mostly) waiting on or running in this socket's chain. */
  get queued(): number {
    return this.queuedTasks;
  }

  /**
   * Runs `task` after every frame received before it. A task that throws (a bug: handlers answer
   * their own errors) is reported and the socket closed, so the chain never jams.
   */
  enqueue(task: () => Promise<void> | void): void {
    if (++this.queuedTasks >= WORK_QUEUE_MAX && !this.readingPaused && this.open) {
      this.readingPaused = true;
      this.socket.pause?.();
    }
    this.chain = this.chain.then(() => this.run(task));
  }

  private async run(task: () => Promise<void> | void): Promise<void> {
    try {
      if (this.open) await task();
    } catch (err) {
      this.hooks.onTaskFailed(this, err);
      this.close('try_again_later');
    } finally {
      this.queuedTasks -= 1;
      if (this.parked) this.unpark();
      if (this.readingPaused && !this.parked && this.queuedTasks < WORK_QUEUE_RESUME && this.open) {
        this.readingPaused = false;
        this.socket.resume?.();
      }
    }
  }

  /** Feeds parked frames to the chain, in order, while it has room. */
  private unpark(): void {
    const parked = this.parked!;
    while (this.parkedHead < parked.length && this.queuedTasks < WORK_QUEUE_MAX && this.open) {
      const text = parked[this.parkedHead];
      parked[this.parkedHead++] = '';
      this.hooks.onMessage(this, text);
    }
    if (this.parkedHead >= parked.length || !this.open) {
      this.parked = undefined;
      this.parkedHead = 0;
    }
  }

  // ConnectionHandle: what the transport calls.
  message(text: string): void {
    if (this.parked || this.queuedTasks >= WORK_QUEUE_MAX) {
      if (!this.open) return;
      // FLOW7: the rest of the read that filled the queue. A transport that cannot pause would
      // park without end: past the cap the socket is refused instead.
      if ((this.parked ??= []).length - this.parkedHead >= PARKED_MAX) return this.close('rate_limited');
      this.parked.push(text);
      return;
    }
    this.hooks.onMessage(this, text);
  }
  binary(): void {
    this.close('binary_not_supported');
  }
  closed(): void {
    this.closedByPeer();
  }

  /** Sends a frame (already serialized). Drops the socket if it cannot keep up. */
  sendRaw(data: string | Buffer): void {
    if (!this.open) return;
    if (this.socket.bufferedAmount > this.hooks.maxBufferedBytes) {
      this.close('slow_consumer');
      return;
    }
    this.socket.send(data);
  }

  send(frame: object): void {
    this.sendRaw(JSON.stringify(frame));
  }

  /**
   * A user event (channel_added, channel_removed). The socket hears its user's events from before
   * `authenticated` is sent, so none that happen meanwhile is lost (MSG5); those are held and
   * follow `authenticated`, which is always the first frame (AUTH6).
   */
  sendEvent(frame: string | Buffer): void {
    if (this.welcomed) return this.sendRaw(frame);
    if (!this.open) return;
    // Authentication waits on Redis at most; so many membership changes meanwhile is abuse or a
    // stuck call: the client reconnects and reads its channels afresh.
    if ((this.early ??= []).length >= EARLY_EVENTS_MAX) return this.close('try_again_later');
    this.early.push(frame);
  }

  /** Sends `authenticated`, then the user events held until it (AUTH6). */
  welcome(frame: object): void {
    this.send(frame);
    this.welcomed = true;
    const early = this.early;
    this.early = undefined;
    if (early) for (const event of early) this.sendRaw(event);
  }

  /**
   * A frame of a subscribed channel, from the hub. `seq` is a stream event's (0 for typing,
   * presence and member changes, which are not in the stream); `skip` names the socket that must
   * not get the frame (the sender of a message gets its `ack` instead) but still counts it as
   * sent. Returns false when the socket sees a gap: the caller repairs it from the database.
   */
  deliver(channelId: string, frame: Buffer, seq: number, skip: string): boolean {
    const sub = this.subs?.get(channelId);
    if (!sub) return true;
    // Held frames are bounded (REPLAY_HOLD_MAX each kind, and REPLAY_HOLD_BYTES of stream frames:
    // 256 long messages would otherwise be megabytes per socket), so a slow replay cannot grow
    // memory: stream events past the bound are read back from the database when the replay ends.
    if (seq === 0) {
      if (!sub.pending) this.sendRaw(frame);
      else if ((sub.others ??= []).length < REPLAY_HOLD_MAX) sub.others.push(frame);
      return true;
    }
    if (sub.pending) {
      const bytes = (sub.pendingBytes ?? 0) + frame.length;
      if (sub.pending.length < REPLAY_HOLD_MAX && bytes <= REPLAY_HOLD_BYTES) {
        sub.pending.push({ frame, seq, skip });
        sub.pendingBytes = bytes;
      } else sub.overflowed = true;
      return true;
    }
    if (this.emit(sub, frame, seq, skip)) return true;
    // A gap: hold from here until the caller has read the missing events (beginReplay again).
    sub.pending = [{ frame, seq, skip }];
    return false;
  }

  /** SEQ3: sends a stream frame unless the socket has it; false on a gap. */
  private emit(sub: Subscription, frame: Buffer, seq: number, skip: string): boolean {
    if (seq <= sub.sent || sub.behind) return true;
    if (seq !== sub.sent + 1) return false;
    sub.sent = seq;
    if (skip !== this.id) this.sendRaw(frame);
    return true;
  }

  /** The one way a connection ends from our side. */
  close(reason: CloseReason): void {
    if (!this.open) return;
    this.state = 'closed';
    this.parked = undefined;
    // The closing handshake needs the peer's close frame: read again.
    if (this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume?.();
    }
    this.socket.close(CLOSE_REASONS[reason], reason);
    this.hooks.onClosed(this, reason);
  }

  /** The transport reports the socket gone (peer close, network error, terminate). */
  closedByPeer(): void {
    if (!this.open) return;
    this.state = 'closed';
    this.parked = undefined;
    this.hooks.onClosed(this, 'peer_closed');
  }

  clearAuthTimer(): void {
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
  }
}

/** FLOW7: past this many queued tasks the socket is no longer read... */
export const WORK_QUEUE_MAX = 32;
/** ...until fewer than this many remain (and nothing is parked). */
export const WORK_QUEUE_RESUME = WORK_QUEUE_MAX / 2;
/**
 * Frames parked while reading is paused: one network read (64 KiB) holds at most ~11,000 empty
 * frames; more means the transport does not pause, and the socket is closed 4429.
 */
const PARKED_MAX = 16_384;

/** User events held for a socket until `authenticated` goes out (see `sendEvent`). */
const EARLY_EVENTS_MAX = 256;

/** Frames held per subscription while it replays (see `deliver`). */
export const REPLAY_HOLD_MAX = 256;
/** ...and at most this many bytes of held stream frames (the frames outside the stream are small). */
export const REPLAY_HOLD_BYTES = 256 * 1024;

interface HeldFrame {
  frame: Buffer;
  seq: number;
  skip: string;
}

/** One channel subscription of one socket. */
export interface Subscription {
  /** The seq of the last stream event this socket has (sent, replayed, or its own ack). */
  sent: number;
  /** While replaying: live stream frames held until the replay is out. */
  pending?: HeldFrame[];
  pendingBytes?: number;
  /** While replaying: frames outside the stream (typing, presence, members_changed) held. */
  others?: Buffer[];
  overflowed?: boolean;
  /**
   * The replay stopped at its cap (`truncated`): live events are not sent until the client
   * subscribes again from its last seq, since they would not follow on from it.
   */
  behind?: boolean;
}

const EMPTY: ReadonlyMap<string, Subscription> = new Map();
