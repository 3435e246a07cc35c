/**
 * The realtime client's public shapes: its state, its events, its options, and the parts of
 * WebSocket and timers it needs (so a test or the terminal client can supply its own).
 */
import type { ServerFrameOf } from '../../../shared/protocol.js';
import type { Channel, Message, User } from '../../../shared/api.js';
import type { ProofKey, ServerClock } from '../../../shared/proofs.js';
import type { BackoffPolicy } from './backoff.js';
import type { OutboxEntry, OutboxStorage } from './outbox.js';

export type ConnectionState = 'disconnected' | 'connecting' | 'authenticating' | 'live';

/** Why the client stopped for good (it will not reconnect by itself). */
export type StopReason =
  /** Close 4403: this device was revoked, logged out, or its account disabled. */
  | 'signed_out'
  /** POST /api/auth/token answered 401: the session is gone. */
  | 'session_ended'
  /** The application called disconnect(). */
  | 'disconnected';

export interface ConnectionStatus {
  state: ConnectionState;
  /** While waiting to reconnect: epoch ms of the next attempt. */
  retryAt: number | null;
  /** Consecutive failed attempts since the last time the connection was live. */
  attempt: number;
  /** Set once the client has stopped for good, with the server's close reason when there was one. */
  stopped: StopReason | null;
  closeCode?: number;
  closeReason?: string;
}

export interface RealtimeEvents {
  status: ConnectionStatus;
  authenticated: { user: User; deviceId: string; expiresAt: string };
  /** A stored message, once: from a `message` frame, a replay after `sinceSeq`, or an ack of our own send. */
  message: { message: Message; replay: boolean };
  /** Our own send was stored; the outbox entry is gone. */
  ack: { clientMsgId: string; message: Message };
  subscribed: ServerFrameOf<'subscribed'>;
  typing: { channelId: string; userId: string };
  presence: { channelId: string; userId: string; status: 'online' | 'offline' };
  channel_added: { channel: Channel };
  channel_removed: { channelId: string };
  members_changed: { channelId: string; added: string[]; removed: string[] };
  /** Someone in one of our channels (or we) changed their display name. */
  user_updated: { user: User };
  /** An edit (EDIT1), once, in stream order: the message in its new state. */
  message_updated: { message: Message };
  /** A deletion (EDIT2), once, in stream order: the message is now a tombstone. */
  message_deleted: { channelId: string; messageId: string };
  /** A read cursor moved: ours (any device), or in a direct channel the other person's (a receipt). */
  read: { channelId: string; userId: string; seq: number };
  refreshed: { expiresAt: string };
  /** The outbox changed (an entry added, acknowledged, failed or retried). */
  outbox: OutboxEntry[];
  /** An `error` frame from the server, or a subscription refused. */
  error: ServerFrameOf<'error'>;
}

/** The part of the WebSocket API this module uses; the browser's and the `ws` package's both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export interface RealtimeOptions {
  /** Origin of the server, e.g. "http://127.0.0.1:3000". Default: the page's own origin. */
  baseUrl?: string;
  /** Used for POST /api/auth/token. In Node, wrap fetch to add the session cookie. */
  fetch?: typeof fetch;
  /** In Node, a subclass of `ws` that sends the cookie header on the upgrade. */
  WebSocket?: WebSocketConstructor;
  timers?: Partial<Timers>;
  /** [0, 1) — injected so tests can pin the jitter. */
  random?: () => number;
  backoff?: BackoffPolicy;
  rateLimitedBackoff?: BackoffPolicy;
  /** Give up on an open socket that has not authenticated after this long. */
  authTimeoutMs?: number;
  /** A pending send not acknowledged this long after being written is marked failed. */
  ackTimeoutMs?: number;
  /**
   * While waiting longer than this to reconnect after losing the server, ask GET /healthz every
   * probeIntervalMs and connect as soon as it answers, instead of sleeping out the backoff.
   */
  probeAfterMs?: number;
  probeIntervalMs?: number;
  /** Our ack ran ahead of messages this long without them arriving: subscribe again from the position. */
  gapTimeoutMs?: number;
  /** A truncated replay that brought nothing new is asked again after this long, not in a tight loop. */
  resubscribeDelayMs?: number;
  /** Keeps unacknowledged sends across page loads (IndexedDB in the browser); memory only without it. */
  outboxStorage?: OutboxStorage;
  /** While live, ping this often; a silent server for pongTimeoutMs more is treated as gone. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** At most one typing frame per channel this often. */
  typingThrottleMs?: number;
  newId?: () => string;
  /** Diagnostics (bad frames, unexpected failures); silent by default. */
  log?: (message: string, detail?: unknown) => void;
  /**
   * The device key the device was bound with at login, if any (IndexedDB in the browser, a key
   * file in the terminal client). Asked once per connection attempt; null: the device is unbound.
   */
  proofKey?: () => Promise<ProofKey | null>;
  /**
   * The server's clock as estimated, that proofs are dated with (shared/proofs.ts); default: the
   * one shared by the page or process. Tests give one over a skewed local clock.
   */
  clock?: ServerClock;
}
