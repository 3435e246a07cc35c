/**
 * One socket's state machine: awaiting_auth → authenticating → authenticated → closed.
 * Frames are handled strictly in arrival order on one promise chain, so frames that arrive
 * while the token is being verified wait for it instead of being lost or reordered. Every
 * teardown goes through `close(reason)`, whose code comes from the contract's table.
 */
import { CLOSE_REASONS, type CloseReason } from '../../shared/codes.js';
import type { HubMember } from './hub.js';
import type { TokenBucket } from './limiter.js';
import type { ConnectionInfo, GatewaySocket } from './socket.js';

export type ConnectionState = 'awaiting_auth' | 'authenticating' | 'authenticated' | 'closed';

export interface ConnectionHooks {
  /** Called once, when the connection leaves every index (any close path). */
  onClosed(conn: Connection, reason: CloseReason | 'peer_closed'): void;
  maxBufferedBytes: number;
}

export class Connection implements HubMember {
  state: ConnectionState = 'awaiting_auth';
  userId = '';
  deviceId = '';
  role: 'user' | 'admin' = 'user';
  expiresAt = 0;
  /** Set once presence has counted this socket, so only counted sockets are uncounted. */
  inPresence = false;
  /** A close is decided: nothing more is read, frames accepted before it are still answered. */
  draining = false;
  readonly channels = new Set<string>();
  /** Channels being (re)played: live frames wait here until the replay is out. */
  private pending?: Map<string, Array<{ frame: Buffer; messageId: string }>>;
  /** Per channel, the newest message id a `since` replay has sent to this socket. */
  private readonly replayedThrough = new Map<string, bigint>();
  private chain: Promise<void> = Promise.resolve();
  readonly timers: { auth?: NodeJS.Timeout; warn?: NodeJS.Timeout; expire?: NodeJS.Timeout } = {};

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

  /** Runs `task` after every frame received before it. */
  enqueue(task: () => Promise<void> | void): void {
    this.chain = this.chain.then(() => (this.open ? task() : undefined));
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
    const through = this.replayedThrough.get(channelId);
    return through !== undefined && messageId !== '' && BigInt(messageId) <= through;
  }

  /** Holds live frames of `channelId` until `endReplay`. */
  beginReplay(channelId: string): void {
    (this.pending ??= new Map()).set(channelId, []);
  }

  /** Flushes held frames, skipping messages the replay already sent (id ≤ lastReplayedId). */
  endReplay(channelId: string, lastReplayedId?: string): void {
    const queue = this.pending?.get(channelId);
    if (!queue) return;
    this.pending!.delete(channelId);
    if (this.pending!.size === 0) this.pending = undefined;
    if (lastReplayedId) {
      const last = BigInt(lastReplayedId);
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

  clearTimers(): void {
    clearTimeout(this.timers.auth);
    clearTimeout(this.timers.warn);
    clearTimeout(this.timers.expire);
  }
}
