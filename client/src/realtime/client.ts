/**
 * The realtime connection to `/ws`, independent of React: one explicit state machine
 * (disconnected → connecting → authenticating → live), reconnects with full-jitter backoff,
 * subscriptions that survive reconnects and an outbox of unacknowledged sends.
 *
 * Guarantees:
 * - Each stream event of a subscribed channel reaches `message` listeners once, and every
 *   resubscribe asks for the events after the last contiguous one (channel-streams.ts).
 * - The device token lives in memory only. It is reused for reconnects while it has more than
 *   a minute left (a restart's reconnect storm then costs the server no token request per
 *   socket), and a fresh one is fetched from POST /api/auth/token otherwise, after a 4401, and
 *   for every `token_expiring`. It is never put in a URL or in storage; the socket URL is the
 *   bare same-origin `/ws`.
 * - Each unacknowledged send is written at most once per connection, always with the same
 *   clientMsgId, so the server's idempotency turns a resend into the original ack; with
 *   outboxStorage it survives a reload and is resent by the next page (outbox.ts).
 * - After losing the server, a long backoff wait is cut short as soon as GET /healthz answers
 *   (health-probe.ts), and by wake() (back online, tab visible again).
 * - Close 4403 (device revoked, logged out, account disabled) and a token request answered 401
 *   stop the client for good: it reports why and never reconnects by itself.
 * - With a device key (`proofKey`), every token request carries a DPoP proof and every
 *   `authenticate`/`refresh` a proof over the latest nonce the socket was given (CONTRACT "Proof
 *   of possession"): the authenticate waits for the server's `challenge`. The key never leaves
 *   `proofKey`; the client signs with it and keeps nothing else of it.
 *
 * @example
 * const rt = new RealtimeClient();                 // in a browser: same origin, global fetch/WebSocket
 * rt.on('message', ({ message }) => render(message));
 * rt.on('status', (s) => showConnection(s));
 * rt.subscribe(channelId);
 * rt.connect();
 * rt.send(channelId, 'hello');
 */
import { serverFrame, type ClientFrame, type ServerFrame, type ServerFrameOf } from '../../../shared/protocol.js';
import type { Channel, Message, User } from '../../../shared/api.js';
import { DEFAULT_BACKOFF, RATE_LIMITED_BACKOFF, fullJitterDelay, type BackoffPolicy } from './backoff.js';
import { ChannelStreams } from './channel-streams.js';
import { HealthProbe } from './health-probe.js';
import { Outbox, type OutboxEntry, type OutboxStorage } from './outbox.js';
import { RequestError, Requests } from './requests.js';
import { dpopProof, socketProof, type ProofKey } from '../../../shared/proofs.js';

export { RequestError } from './requests.js';

export type { OutboxEntry, OutboxStatus, OutboxStorage, SavedSend } from './outbox.js';

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
}

class SessionEnded extends Error {}
/** The server could not be reached at all (not an HTTP error answer). */
class Unreachable extends Error {}

const CLOSE_REVOKED = 4403;
const CLOSE_AUTH = 4401;
const CLOSE_RATE_LIMITED = 4429;
const OPEN = 1;
/** Closes that mean the server went away (shutdown, crash, refused connection): worth probing for its return. */
const GONE_CLOSE_CODES = new Set([1001, 1005, 1006, 1012]);
/** A token with less than this left is not reused for a new connection. */
const TOKEN_REUSE_MARGIN_MS = 60_000;

type Listener<K extends keyof RealtimeEvents> = (payload: RealtimeEvents[K]) => void;

export class RealtimeClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly WS: WebSocketConstructor;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly opts: Required<
    Pick<
      RealtimeOptions,
      | 'backoff'
      | 'rateLimitedBackoff'
      | 'authTimeoutMs'
      | 'ackTimeoutMs'
      | 'pingIntervalMs'
      | 'pongTimeoutMs'
      | 'typingThrottleMs'
      | 'probeAfterMs'
      | 'probeIntervalMs'
      | 'gapTimeoutMs'
      | 'resubscribeDelayMs'
    >
  >;
  private readonly newId: () => string;
  private readonly proofKey?: () => Promise<ProofKey | null>;
  private readonly log: (message: string, detail?: unknown) => void;
  private readonly listeners = new Map<keyof RealtimeEvents, Set<Listener<never>>>();

  private status: ConnectionStatus = { state: 'disconnected', retryAt: null, attempt: 0, stopped: null };
  /** Bumped for every connection attempt; callbacks of an older attempt are ignored. */
  private seq = 0;
  private ws: WebSocketLike | null = null;
  private running = false;
  private retriedAuth = false;
  /** The last device token and its expiry (epoch ms), reused for reconnects (see the header). */
  private token?: { token: string; expiresAt: number };
  private retryTimer: unknown = null;
  /** The pending retry waits on the rate-limited policy: the server asked us to stay away. */
  private retryRateLimited = false;
  private readonly probe: HealthProbe;
  private authTimer: unknown = null;
  private pingTimer: unknown = null;
  private pongTimer: unknown = null;
  private refreshing = false;
  /** The device key for this connection attempt (null: unbound) and the nonce the next proof signs. */
  private key: ProofKey | null = null;
  private nonce: string | undefined;
  /** A bound device's authenticate, written when the server's challenge arrives. */
  private pendingAuthenticate: ((nonce: string) => void) | null = null;

  private userId: string | null = null;
  private readonly streams: ChannelStreams;
  private readonly outbox: Outbox;
  /** Settles once the sends an earlier page left unacknowledged are back in the outbox. */
  readonly restored: Promise<void>;
  private readonly lastTyping = new Map<string, number>();
  private readonly typingTimers = new Map<string, unknown>();
  /** Edits and deletions awaiting their answer (requests.ts). */
  private readonly requests: Requests;

  constructor(options: RealtimeOptions = {}) {
    const g = globalThis as { location?: { origin: string }; WebSocket?: unknown };
    this.baseUrl = (options.baseUrl ?? g.location?.origin ?? '').replace(/\/$/, '');
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const WS = options.WebSocket ?? (g.WebSocket as WebSocketConstructor | undefined);
    if (!WS) throw new Error('RealtimeClient: no WebSocket implementation; pass options.WebSocket');
    this.WS = WS;
    this.timers = {
      setTimeout: options.timers?.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms)),
      clearTimeout: options.timers?.clearTimeout ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>)),
      now: options.timers?.now ?? (() => Date.now()),
    };
    this.random = options.random ?? Math.random;
    this.proofKey = options.proofKey;
    this.opts = {
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      rateLimitedBackoff: options.rateLimitedBackoff ?? RATE_LIMITED_BACKOFF,
      authTimeoutMs: options.authTimeoutMs ?? 10_000,
      ackTimeoutMs: options.ackTimeoutMs ?? 15_000,
      pingIntervalMs: options.pingIntervalMs ?? 25_000,
      pongTimeoutMs: options.pongTimeoutMs ?? 10_000,
      typingThrottleMs: options.typingThrottleMs ?? 3_000,
      probeAfterMs: options.probeAfterMs ?? 2_000,
      probeIntervalMs: options.probeIntervalMs ?? 1_500,
      gapTimeoutMs: options.gapTimeoutMs ?? 10_000,
      resubscribeDelayMs: options.resubscribeDelayMs ?? 1_000,
    };
    this.newId = options.newId ?? (() => globalThis.crypto.randomUUID());
    this.log = options.log ?? (() => {});
    this.streams = new ChannelStreams(
      {
        write: (frame) => this.write(frame),
        live: () => this.status.state === 'live',
        setTimeout: (fn, ms) => this.timers.setTimeout(fn, ms),
        clearTimeout: (h) => this.timers.clearTimeout(h),
      },
      { gapTimeoutMs: this.opts.gapTimeoutMs, resubscribeDelayMs: this.opts.resubscribeDelayMs },
    );
    this.probe = new HealthProbe({ url: this.baseUrl + '/healthz', fetch: this.fetchImpl, timers: this.timers, intervalMs: this.opts.probeIntervalMs });
    this.outbox = new Outbox(options.outboxStorage, this.log);
    this.requests = new Requests(this.timers, this.opts.ackTimeoutMs);
    this.restored = this.outbox.restore().then((added) => {
      if (added === 0) return;
      this.emitOutbox();
      this.flushOutbox();
    });
  }

  // ---------------------------------------------------------------- public API

  on<K extends keyof RealtimeEvents>(event: K, fn: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => set.delete(fn as Listener<never>);
  }

  getStatus(): ConnectionStatus {
    return this.status;
  }

  getOutbox(): OutboxEntry[] {
    return this.outbox.list();
  }

  /** Starts connecting (again, after disconnect() or a stop). Subscriptions and outbox are kept. */
  connect(): void {
    if (this.running) return;
    this.running = true;
    this.retriedAuth = false;
    // Reported together with the move to 'connecting' by attempt().
    this.status = { ...this.status, stopped: null, attempt: 0, retryAt: null, closeCode: undefined, closeReason: undefined };
    void this.attempt();
  }

  /** Closes the connection and stays disconnected until connect(). */
  disconnect(): void {
    this.halt('disconnected');
  }

  /** Drops the current connection and connects again at once (the person asked to). */
  reconnectNow(): void {
    if (!this.running) return this.connect();
    this.dropSocket(4000, 'client_reconnect');
    this.clearRetry();
    void this.attempt();
  }

  /**
   * Cuts a wait for the next attempt short, when there is reason to think the server is
   * reachable again (the browser came back online, the tab is visible again). A wait the
   * server asked for (close 4429) is kept; a connection under way or live is left alone.
   */
  wake(): void {
    if (!this.running || this.retryTimer === null || this.retryRateLimited) return;
    this.clearRetry();
    void this.attempt();
  }

  /** Keeps `channelId` subscribed on this and every future connection. */
  subscribe(channelId: string): void {
    this.streams.add(channelId);
  }

  /** Stops the channel's stream here; its position is forgotten (a later subscribe starts afresh). */
  unsubscribe(channelId: string): void {
    this.streams.remove(channelId);
  }

  /**
   * The seq up to which this client has received every event of the channel (undefined before
   * its first `subscribed`). History over HTTP up to it leaves no hole before the live stream.
   */
  position(channelId: string): number | undefined {
    return this.streams.position(channelId);
  }

  /** Queues a message; it is written now if live, otherwise as soon as a connection is. Returns its clientMsgId. */
  send(channelId: string, body: string): string {
    const clientMsgId = this.newId();
    this.outbox.add({ clientMsgId, channelId, body, createdAt: new Date(this.timers.now()).toISOString() });
    const trailing = this.typingTimers.get(channelId);
    if (trailing !== undefined) this.timers.clearTimeout(trailing);
    this.typingTimers.delete(channelId);
    this.emitOutbox();
    this.flushOutbox();
    return clientMsgId;
  }

  /**
   * Replaces the body of one of our messages (EDIT1). Resolves once the server stored it (the
   * `message_updated` event has been emitted by then); rejects with a RequestError (`forbidden`,
   * `not_found`, `offline`, `timeout`, …).
   */
  edit(channelId: string, messageId: string, body: string): Promise<void> {
    return this.request('edit', (ref) => ({ type: 'edit', channelId, messageId, body, ref }));
  }

  /** Deletes a message (ours, or anyone's for an admin), leaving a tombstone (EDIT2). */
  delete(channelId: string, messageId: string): Promise<void> {
    return this.request('delete', (ref) => ({ type: 'delete', channelId, messageId, ref }));
  }

  /**
   * Moves our read cursor to `seq` (READ1). Fire and forget: every socket of ours, this one
   * included, hears the move as a `read` event. Returns false when not live (nothing sent).
   */
  markRead(channelId: string, seq: number): boolean {
    if (this.status.state !== 'live') return false;
    this.write({ type: 'read', channelId, seq });
    return true;
  }

  private request(kind: 'edit' | 'delete', frame: (ref: string) => ClientFrame): Promise<void> {
    if (this.status.state !== 'live') return Promise.reject(new RequestError('offline', 'Not connected'));
    const { ref, done } = this.requests.open(kind);
    this.write(frame(ref));
    return done;
  }

  /** Sends a failed message again, with the same clientMsgId (the server never stores it twice). */
  retry(clientMsgId: string): void {
    const entry = this.outbox.get(clientMsgId);
    if (!entry || entry.status !== 'failed') return;
    this.outbox.requeue(entry);
    this.emitOutbox();
    this.flushOutbox();
  }

  /** Forgets a failed message. */
  discard(clientMsgId: string): void {
    const entry = this.outbox.remove(clientMsgId);
    if (!entry) return;
    this.timers.clearTimeout(entry.ackTimer);
    this.emitOutbox();
  }

  /**
   * Tells the channel we are typing. At most one frame per typingThrottleMs per channel; a call
   * inside that window is not lost but sent when the window ends, so someone who keeps typing
   * right after sending a message still shows as typing. Dropped while not live.
   */
  typing(channelId: string): void {
    if (this.status.state !== 'live') return;
    const now = this.timers.now();
    const wait = (this.lastTyping.get(channelId) ?? -Infinity) + this.opts.typingThrottleMs - now;
    if (wait <= 0) {
      this.lastTyping.set(channelId, now);
      this.write({ type: 'typing', channelId });
      return;
    }
    if (this.typingTimers.has(channelId)) return;
    this.typingTimers.set(
      channelId,
      this.timers.setTimeout(() => {
        this.typingTimers.delete(channelId);
        this.typing(channelId);
      }, wait),
    );
  }

  // ---------------------------------------------------------------- connection lifecycle

  private async attempt(): Promise<void> {
    const seq = ++this.seq;
    this.setStatus({ state: 'connecting', retryAt: null });
    let token: string;
    try {
      this.key = (await this.proofKey?.()) ?? null;
      const held = this.token;
      // Wall-clock time: the server dates the token's expiry on its own clock.
      token = held && held.expiresAt - Date.now() > TOKEN_REUSE_MARGIN_MS ? held.token : await this.fetchToken();
    } catch (err) {
      if (seq !== this.seq || !this.running) return;
      if (err instanceof SessionEnded) return this.halt('session_ended');
      this.log('token request failed', err);
      return this.scheduleRetry(this.opts.backoff, err instanceof Unreachable);
    }
    if (seq !== this.seq || !this.running) return;

    let ws: WebSocketLike;
    try {
      // The token goes in the first frame, never in the URL.
      ws = new this.WS(this.baseUrl.replace(/^http/, 'ws') + '/ws');
    } catch (err) {
      this.log('WebSocket constructor failed', err);
      return this.scheduleRetry(this.opts.backoff);
    }
    this.ws = ws;
    ws.onopen = () => {
      if (seq !== this.seq) return;
      this.setStatus({ state: 'authenticating' });
      this.nonce = undefined;
      if (!this.key) this.write({ type: 'authenticate', token });
      // A bound device proves its key over the nonce of the server's first frame.
      else this.pendingAuthenticate = (nonce) => void this.proveAndWrite(seq, 'authenticate', token, nonce);
      this.authTimer = this.timers.setTimeout(() => {
        if (seq !== this.seq) return;
        this.log('authentication timed out');
        this.dropSocket(4000, 'authentication_timeout');
        this.scheduleRetry(this.opts.backoff);
      }, this.opts.authTimeoutMs);
    };
    ws.onmessage = (ev) => {
      if (seq === this.seq) this.onRaw(ev.data);
    };
    ws.onclose = (ev) => {
      if (seq === this.seq) this.onClose(ev.code, ev.reason);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  private onClose(code: number, reason: string): void {
    this.ws = null;
    this.clearConnectionTimers();
    this.setStatus({ closeCode: code, closeReason: reason || undefined });
    if (!this.running) return;
    if (code === CLOSE_REVOKED) return this.halt('signed_out', code, reason);
    if (code === CLOSE_AUTH && !this.retriedAuth) {
      // The token was refused (expired, or the secret rotated): one immediate retry with a fresh
      // token. If the session itself is gone, the token request says so with a 401.
      this.retriedAuth = true;
      this.token = undefined;
      this.seq++;
      void this.attempt();
      return;
    }
    if (code === CLOSE_RATE_LIMITED) return this.scheduleRetry(this.opts.rateLimitedBackoff);
    this.scheduleRetry(this.opts.backoff, GONE_CLOSE_CODES.has(code));
  }

  /**
   * Waits a full-jitter delay before the next attempt. `probe`: the server seemed gone (not
   * refusing us), so during a long wait GET /healthz tells when it is back; a server that
   * answers but refuses (1013, 4429, an HTTP error) is not probed, or the probe would undo the
   * backoff it needs.
   */
  private scheduleRetry(policy: BackoffPolicy, probe = false): void {
    this.clearRetry();
    const seq = ++this.seq;
    const delay = fullJitterDelay(this.status.attempt, policy, this.random);
    this.retryRateLimited = policy === this.opts.rateLimitedBackoff;
    this.setStatus({ state: 'disconnected', retryAt: this.timers.now() + delay, attempt: this.status.attempt + 1 });
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      this.clearRetry();
      if (this.running) void this.attempt();
    }, delay);
    if (probe && delay > this.opts.probeAfterMs) {
      this.probe.start(() => {
        if (!this.running || seq !== this.seq || this.retryTimer === null) return;
        this.clearRetry();
        void this.attempt();
      });
    }
  }

  private halt(reason: StopReason, closeCode?: number, closeReason?: string): void {
    this.running = false;
    this.clearRetry();
    for (const t of this.typingTimers.values()) this.timers.clearTimeout(t);
    this.typingTimers.clear();
    this.dropSocket(1000, 'client_closed');
    this.seq++;
    this.setStatus({
      state: 'disconnected',
      retryAt: null,
      stopped: reason,
      ...(closeCode !== undefined ? { closeCode, closeReason } : {}),
    });
  }

  /** Detaches from the current socket (its late events are ignored) and closes it. */
  private dropSocket(code: number, reason: string): void {
    this.clearConnectionTimers();
    const ws = this.ws;
    this.ws = null;
    this.seq++;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code, reason);
    } catch {
      /* already closed */
    }
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryRateLimited = false;
    this.probe.stop();
  }

  private clearConnectionTimers(): void {
    for (const t of [this.authTimer, this.pingTimer, this.pongTimer]) if (t !== null) this.timers.clearTimeout(t);
    this.authTimer = this.pingTimer = this.pongTimer = null;
    this.refreshing = false;
    this.pendingAuthenticate = null;
    this.streams.connectionLost();
    this.requests.failAll(new RequestError('offline', 'The connection was lost'));
    // A send written on a socket that is gone stays pending and is written again on the next
    // connection (which arms a fresh ack timer); an outage longer than ackTimeoutMs must not
    // turn it into a failure the user has to retry by hand.
    for (const entry of this.outbox.values()) {
      this.timers.clearTimeout(entry.ackTimer);
      entry.ackTimer = null;
    }
  }

  /** Signs the proof for a bound device's authenticate or refresh; a failure to sign drops the socket. */
  private async proveAndWrite(seq: number, type: 'authenticate' | 'refresh', token: string, nonce: string | undefined): Promise<void> {
    const key = this.key;
    let proof: string | undefined;
    try {
      if (key && nonce) proof = await socketProof(key, nonce, token);
    } catch (err) {
      this.log('signing the proof failed', err);
    }
    if (seq !== this.seq) return;
    if (type === 'refresh' && this.status.state !== 'live') {
      this.refreshing = false;
      return;
    }
    this.write(proof ? { type, token, proof } : { type, token });
  }

  private async fetchToken(): Promise<string> {
    let res: Response;
    try {
      const url = this.baseUrl + '/api/auth/token';
      const headers: Record<string, string> = { accept: 'application/json' };
      if (this.key) headers.DPoP = await dpopProof(this.key, 'POST', new URL(url, (globalThis as { location?: { href: string } }).location?.href).toString());
      res = await this.fetchImpl(url, { method: 'POST', credentials: 'same-origin', headers });
    } catch (err) {
      throw new Unreachable(String(err));
    }
    if (res.status === 401) throw new SessionEnded();
    if (!res.ok) throw new Error(`token request: ${res.status}`);
    const body = (await res.json()) as { token?: unknown; expiresAt?: unknown };
    if (typeof body.token !== 'string') throw new Error('token request: no token in the answer');
    const expiresAt = typeof body.expiresAt === 'string' ? Date.parse(body.expiresAt) : NaN;
    this.token = Number.isFinite(expiresAt) ? { token: body.token, expiresAt } : undefined;
    return body.token;
  }

  // ---------------------------------------------------------------- frames

  private onRaw(data: unknown): void {
    this.armHeartbeat();
    let json: unknown;
    try {
      json = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      this.log('frame is not JSON', data);
      return;
    }
    const parsed = serverFrame.safeParse(json);
    if (!parsed.success) {
      this.log('frame does not match the protocol', json);
      this.streams.onUnreadable(json);
      return;
    }
    this.onFrame(parsed.data);
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'challenge': {
        const write = this.pendingAuthenticate;
        this.pendingAuthenticate = null;
        return write?.(frame.nonce);
      }
      case 'authenticated':
        return this.onAuthenticated(frame);
      case 'message':
        return this.onStreamMessage(frame.seq, frame.message);
      case 'message_updated':
        // EDIT1: an edit is a stream event with its own seq; the message keeps its own.
        if (this.streams.onMessage(frame.seq, frame.message.channelId)) this.emit('message_updated', { message: frame.message });
        return;
      case 'message_deleted':
        if (this.streams.onMessage(frame.seq, frame.channelId)) this.emit('message_deleted', { channelId: frame.channelId, messageId: frame.messageId });
        return;
      case 'edited':
        // Our own edit's answer stands in for the message_updated others get: it takes its seq.
        if (this.streams.onAck(frame.seq, frame.message.channelId)) this.emit('message_updated', { message: frame.message });
        this.requests.settle(frame.ref);
        return;
      case 'deleted':
        if (this.streams.onAck(frame.seq, frame.channelId)) this.emit('message_deleted', { channelId: frame.channelId, messageId: frame.messageId });
        this.requests.settle(frame.ref);
        return;
      case 'read':
        return this.emit('read', { channelId: frame.channelId, userId: frame.userId, seq: frame.seq });
      case 'ack':
        return this.onAck(frame);
      case 'subscribed':
        this.streams.onSubscribed(frame);
        return this.emit('subscribed', frame);
      case 'typing':
        return this.emit('typing', { channelId: frame.channelId, userId: frame.userId });
      case 'presence':
        return this.emit('presence', { channelId: frame.channelId, userId: frame.userId, status: frame.status });
      case 'channel_added':
        return this.emit('channel_added', { channel: frame.channel });
      case 'members_changed':
        return this.emit('members_changed', { channelId: frame.channelId, added: frame.added, removed: frame.removed });
      case 'user_updated':
        return this.emit('user_updated', { user: frame.user });
      case 'channel_removed':
        this.streams.dropped(frame.channelId);
        return this.emit('channel_removed', { channelId: frame.channelId });
      case 'token_expiring':
        return void this.refreshToken();
      case 'refreshed':
        this.refreshing = false;
        this.nonce = frame.nonce ?? this.nonce;
        return this.emit('refreshed', { expiresAt: frame.expiresAt });
      case 'error':
        return this.onErrorFrame(frame);
      case 'unsubscribed':
      case 'pong':
        return;
    }
  }

  private onAuthenticated(frame: ServerFrameOf<'authenticated'>): void {
    if (this.authTimer !== null) this.timers.clearTimeout(this.authTimer);
    this.authTimer = null;
    this.retriedAuth = false;
    this.nonce = frame.nonce;
    this.userId = frame.user.id;
    this.setStatus({ state: 'live', attempt: 0, retryAt: null, closeCode: undefined, closeReason: undefined });
    this.emit('authenticated', { user: frame.user, deviceId: frame.deviceId, expiresAt: frame.expiresAt });
    // Subscribes go first: the server answers frames in order, so a resent message's ack comes
    // after its channel's replay and lands on a known position.
    this.streams.resumeAll();
    this.flushOutbox();
    this.armHeartbeat();
  }

  private onStreamMessage(seq: number, message: Message): void {
    // Our own message, echoed to another of our sockets or replayed: the send is done.
    this.settle(message.clientMsgId, message);
    const news = this.streams.onMessage(seq, message.channelId);
    if (news) this.emit('message', { message, replay: news.replay });
  }

  private onAck(frame: ServerFrameOf<'ack'>): void {
    const { message } = frame;
    this.settle(frame.clientMsgId, message);
    if (this.streams.onAck(message.seq, message.channelId)) this.emit('message', { message, replay: false });
  }

  private onErrorFrame(frame: ServerFrameOf<'error'>): void {
    const ref = frame.ref;
    if (ref?.startsWith('sub:')) {
      this.streams.dropped(ref.slice(4));
    } else if (ref?.startsWith('send:')) {
      const entry = this.outbox.get(ref.slice(5));
      if (entry) {
        this.timers.clearTimeout(entry.ackTimer);
        // Refused for what it is (not a member, not a valid message): sending it again cannot
        // help, so it leaves storage. Too fast or a server error: it stays, for a retry.
        const permanent = frame.code === 'forbidden' || frame.code === 'invalid_message';
        const error = frame.code === 'rate_limited' ? 'Sending too fast' : frame.code === 'forbidden' ? 'Not allowed here' : (frame.message ?? 'Not sent');
        this.outbox.fail(entry, error, permanent);
        this.emitOutbox();
      }
    } else this.requests.fail(ref, new RequestError(frame.code, frame.message ?? frame.code));
    this.emit('error', frame);
  }

  private async refreshToken(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    const seq = this.seq;
    try {
      const token = await this.fetchToken();
      if (seq === this.seq && this.status.state === 'live') await this.proveAndWrite(seq, 'refresh', token, this.nonce);
      else this.refreshing = false;
    } catch (err) {
      this.refreshing = false;
      if (err instanceof SessionEnded) return this.halt('session_ended');
      // Without a refresh the server closes with 4401 at expiry and we reconnect with a fresh token.
      this.log('token refresh failed', err);
    }
  }

  // ---------------------------------------------------------------- outbox

  private flushOutbox(): void {
    if (this.status.state !== 'live') return;
    for (const entry of this.outbox.values()) {
      if (entry.status !== 'pending' || entry.writtenOn === this.seq) continue;
      entry.writtenOn = this.seq;
      this.write({ type: 'send', channelId: entry.channelId, clientMsgId: entry.clientMsgId, body: entry.body, ref: `send:${entry.clientMsgId}` });
      this.timers.clearTimeout(entry.ackTimer);
      const seq = this.seq;
      entry.ackTimer = this.timers.setTimeout(() => {
        if (this.outbox.get(entry.clientMsgId) !== entry || entry.status !== 'pending' || entry.writtenOn !== seq) return;
        this.outbox.fail(entry, 'No answer from the server', false);
        this.emitOutbox();
      }, this.opts.ackTimeoutMs);
    }
  }

  /** An ack (or our own message echoed) settles the outbox entry with that clientMsgId. */
  private settle(clientMsgId: string, message: Message): void {
    const entry = this.outbox.get(clientMsgId);
    if (!entry || entry.channelId !== message.channelId || (this.userId !== null && message.senderId !== this.userId)) return;
    this.timers.clearTimeout(entry.ackTimer);
    this.outbox.remove(clientMsgId);
    this.emit('ack', { clientMsgId, message });
    this.emitOutbox();
  }

  // ---------------------------------------------------------------- plumbing

  /** While live: a ping after pingIntervalMs of silence, and the socket is given up after pongTimeoutMs more. */
  private armHeartbeat(): void {
    if (this.status.state !== 'live') return;
    if (this.pingTimer !== null) this.timers.clearTimeout(this.pingTimer);
    if (this.pongTimer !== null) this.timers.clearTimeout(this.pongTimer);
    this.pongTimer = null;
    const seq = this.seq;
    this.pingTimer = this.timers.setTimeout(() => {
      if (seq !== this.seq) return;
      this.write({ type: 'ping' });
      this.pongTimer = this.timers.setTimeout(() => {
        if (seq !== this.seq) return;
        this.log('no answer to ping; reconnecting');
        this.dropSocket(4000, 'heartbeat_timeout');
        this.scheduleRetry(this.opts.backoff, true);
      }, this.opts.pongTimeoutMs);
    }, this.opts.pingIntervalMs);
  }

  private write(frame: ClientFrame): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return;
    try {
      ws.send(JSON.stringify(frame));
    } catch (err) {
      this.log('send failed', err);
    }
  }

  private setStatus(patch: Partial<ConnectionStatus>): void {
    this.status = { ...this.status, ...patch };
    this.emit('status', this.status);
  }

  private emitOutbox(): void {
    this.emit('outbox', this.getOutbox());
  }

  private emit<K extends keyof RealtimeEvents>(event: K, payload: RealtimeEvents[K]): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        (fn as Listener<K>)(payload);
      } catch (err) {
        this.log(`listener for ${event} threw`, err);
      }
    }
  }
}
