/**
 * The realtime connection to `/ws`, independent of React: one explicit state machine
 * (disconnected → connecting → authenticating → live), reconnects with full-jitter backoff,
 * subscriptions that survive reconnects and an outbox of unacknowledged sends.
 *
 * Guarantees:
 * - Each stream event of a subscribed channel reaches `message` listeners once, and every
 *   resubscribe asks for the events after the last contiguous one (channel-streams.ts).
 * - The device token lives in memory only (device-token.ts): reused for reconnects while it has
 *   more than a minute left, fetched fresh otherwise, after a 4401, and for every
 *   `token_expiring`. It is never put in a URL; the socket URL is the bare same-origin `/ws`.
 * - Each unacknowledged send is written at most once per connection, always with the same
 *   clientMsgId, so the server's idempotency turns a resend into the original ack; with
 *   outboxStorage it survives a reload and is resent by the next page (outbox.ts).
 * - After losing the server, a long backoff wait is cut short as soon as GET /healthz answers
 *   (health-probe.ts), and by wake() (back online, tab visible again).
 * - Close 4403 (device revoked, logged out, account disabled) and a token request answered 401
 *   stop the client for good: it reports why and never reconnects by itself.
 * - With a device key (`proofKey`), every token request carries a DPoP proof and every
 *   `authenticate`/`refresh` a proof over the latest nonce the socket was given (CONTRACT "Proof
 *   of possession"): the authenticate waits for the server's `challenge`.
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
import { DeviceTokens, SessionEnded, Unreachable } from './device-token.js';
import type { ConnectionStatus, RealtimeEvents, RealtimeOptions, StopReason, Timers, WebSocketConstructor, WebSocketLike } from './types.js';

export { RequestError } from './requests.js';

export type { OutboxEntry, OutboxStatus, OutboxStorage, SavedSend } from './outbox.js';

export type * from './types.js';

const CLOSE_REVOKED = 4403;
const CLOSE_AUTH = 4401;
const CLOSE_RATE_LIMITED = 4429;
const OPEN = 1;
/** Closes that mean the server went away (shutdown, crash, refused connection): worth probing for its return. */
const GONE_CLOSE_CODES = new Set([1001, 1005, 1006, 1012]);

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
  private readonly log: (message: string, detail?: unknown) => void;
  private readonly listeners = new Map<keyof RealtimeEvents, Set<Listener<never>>>();

  private status: ConnectionStatus = { state: 'disconnected', retryAt: null, attempt: 0, stopped: null };
  /** Bumped for every connection attempt; callbacks of an older attempt are ignored. */
  private seq = 0;
  private ws: WebSocketLike | null = null;
  private running = false;
  private retriedAuth = false;
  private readonly tokens: DeviceTokens;
  private retryTimer: unknown = null;
  /** The pending retry waits on the rate-limited policy: the server asked us to stay away. */
  private retryRateLimited = false;
  private readonly probe: HealthProbe;
  private authTimer: unknown = null;
  private pingTimer: unknown = null;
  private pongTimer: unknown = null;
  private refreshing = false;
  /** The nonce the next proof signs (a bound device's refresh). */
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
    this.tokens = new DeviceTokens({ baseUrl: this.baseUrl, fetch: this.fetchImpl, proofKey: options.proofKey, log: this.log, clock: options.clock });
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
      token = await this.tokens.forConnection();
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
      if (!this.tokens.bound) this.write({ type: 'authenticate', token });
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
      this.tokens.forget();
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
  /** Writes a bound device's authenticate or refresh with its proof, unless the socket moved on meanwhile. */
  private async proveAndWrite(seq: number, type: 'authenticate' | 'refresh', token: string, nonce: string | undefined): Promise<void> {
    const proof = await this.tokens.proof(nonce, token);
    if (seq !== this.seq) return;
    if (type === 'refresh' && this.status.state !== 'live') {
      this.refreshing = false;
      return;
    }
    this.write(proof ? { type, token, proof } : { type, token });
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
      const token = await this.tokens.fresh();
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
