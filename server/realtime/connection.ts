/**
 * One socket's state machine: awaiting_auth → authenticating → authenticated → closed.
 * Frames are handled strictly in arrival order on one promise chain, so frames that arrive
 * while the token is being verified wait for it instead of being lost or reordered. Every
 * teardown goes through `close(reason)`, whose code comes from the contract's table.
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
  role: 'user' | 'admin' = 'user';
  /** Token expiry (epoch ms) and when to send `token_expiring`; checked by the gateway's ticker. */
  expiresAt = 0;
  warnAt = 0;
  /** Set once presence has counted this socket, so only counted sockets are uncounted. */
  inPresence = false;
  /** A close is decided: nothing more is read, frames accepted before it are still answered. */
  draining = false;
  private subscribed?: Set<string>;
  /** Channels being (re)played: live frames wait here until the replay is out. */
  private pending?: Map<string, Array<{ frame: Buffer; messageId: string }>>;
  /** Per channel, the newest message id a `since` replay has sent to this socket. */
  private replayedThrough?: Map<string, bigint>;
  private chain: Promise<void> = Promise.resolve();
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
  get channels(): ReadonlySet<string> {
    return this.subscribed ?? EMPTY;
  }

  addChannel(channelId: string): void {
    (this.subscribed ??= new Set()).add(channelId);
  }

  /** Returns true when the socket was subscribed to the channel. */
  removeChannel(channelId: string): boolean {
    return this.subscribed?.delete(channelId) ?? false;
  }

  /**
   * Runs `task` after every frame received before it. A task that throws (a bug: handlers answer
   * their own errors) is reported and the socket closed, so the chain never jams.
   */
  enqueue(task: () => Promise<void> | void): void {
    this.chain = this.chain
      .then(() => (this.open ? task() : undefined))
      .catch((err: unknown) => {
        this.hooks.onTaskFailed(this, err);
        this.close('try_again_later');
      });
  }

  // ConnectionHandle: what the transport calls.
  message(text: string): void {
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

  deliver(channelId: string, frame: Buffer, messageId: string): void {
    const queue = this.pending?.get(channelId);
    if (queue) queue.push({ frame, messageId });
    else if (!this.replayed(channelId, messageId)) this.sendRaw(frame);
  }

  /**
   * Whether a replay already sent this message. A message can be committed (and so replayed)
   * before its sender's instance publishes it, and the publish can land after the replay ended:
   * without this check that message would reach the socket twice. Ids grow in commit order
   * (MSG4), so every id up to the last replayed one was part of the replay.
   */
  private replayed(channelId: string, messageId: string): boolean {
    const through = this.replayedThrough?.get(channelId);
    return through !== undefined && messageId !== '' && BigInt(messageId) <= through;
  }

  /** Holds live frames of `channelId` until `endReplay`. */
  beginReplay(channelId: string): void {
    (this.pending ??= new Map()).set(channelId, []);
  }

  /** Drops held frames (the subscription failed and was undone). */
  discardReplay(channelId: string): void {
    this.pending?.delete(channelId);
    if (this.pending?.size === 0) this.pending = undefined;
  }

  /** Flushes held frames, skipping messages the replay already sent (id ≤ lastReplayedId). */
  endReplay(channelId: string, lastReplayedId?: string): void {
    const queue = this.pending?.get(channelId);
    if (!queue) return;
    this.pending!.delete(channelId);
    if (this.pending!.size === 0) this.pending = undefined;
    if (lastReplayedId) {
      const last = BigInt(lastReplayedId);
      this.replayedThrough ??= new Map();
      if (last > (this.replayedThrough.get(channelId) ?? -1n)) this.replayedThrough.set(channelId, last);
    }
    for (const { frame, messageId } of queue) {
      if (!this.replayed(channelId, messageId)) this.sendRaw(frame);
    }
  }

  /** The one way a connection ends from our side. */
  close(reason: CloseReason): void {
    if (!this.open) return;
    this.state = 'closed';
    this.socket.close(CLOSE_REASONS[reason], reason);
    this.hooks.onClosed(this, reason);
  }

  /** The transport reports the socket gone (peer close, network error, terminate). */
  closedByPeer(): void {
    if (!this.open) return;
    this.state = 'closed';
    this.hooks.onClosed(this, 'peer_closed');
  }

  clearAuthTimer(): void {
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
