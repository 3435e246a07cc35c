/**
 * The realtime gateway core: authenticate-first sockets, subscriptions, messaging, typing,
 * presence, token lifecycle and live revocation. It never imports `ws` (see socket.ts); the
 * rules it implements are numbered in SPEC.md and cited by the tests.
 *
 * Guarantees:
 * - A socket joins nothing (no channel, no user topic, no presence) before its token, its
 *   fingerprint cookie and its device's row have been verified (AUTH1–AUTH6).
 * - A device revoked anywhere loses its sockets on every instance: through the bus at once, and
 *   through the periodic sweep of the database if a bus event was missed (REV1–REV3).
 * - A message is acknowledged only after it is stored; a retried clientMsgId is acknowledged
 *   with the stored message and never stored twice (MSG1–MSG4).
 * - Each channel's events reach every subscribed socket in seq order, once, without a gap
 *   (SEQ1–SEQ7): subscriptions.ts, delivery.ts, stream.ts and repair.ts.
 */
import { clientFrame, type ClientFrame, type ClientFrameOf } from '../../shared/protocol.js';
import { LIMITS, type CloseReason, type RevocationReason } from '../../shared/codes.js';
import { TOPICS, type ControlEvent, type Unsubscribe } from '../bus/bus.js';
import type { AppContext } from '../context.js';
import { describeError } from '../logger.js';
import { storeMessage } from '../messaging/messages.js';
import type { PresenceTracker } from '../presence/presence.js';
import { Connection, type ConnectionHooks } from './connection.js';
import { readStreamEvents, StreamPublisher } from './delivery.js';
import { ChannelHub, TopicRefs } from './hub.js';
import { TokenBucket } from './limiter.js';
import { StreamRepair } from './repair.js';
import { Subscriptions } from './subscriptions.js';
import type { ConnectionHandle, ConnectionInfo, GatewaySocket } from './socket.js';

type Ctx = Pick<AppContext, 'config' | 'log' | 'db' | 'pool' | 'bus' | 'tokens' | 'metrics'>;

const TYPING_THROTTLE_MS = 2_000;
const MAX_TOKEN_WARNING_MS = 60_000;
/** Granularity of token_expiring / token_expired: one shared timer for every socket. */
const EXPIRY_TICK_MS = 250;
const REVOKED_MEMORY_MS = 120_000;
/** SHUT1: how long shutdown waits for answers to frames already received, and for presence events. */
const SHUTDOWN_DRAIN_MS = 2_000;
/** SEQ2: how long an out-of-order event waits for the missing ones on the bus before they are read. */
const GAP_WAIT_MS = 50;

/** Resolves when every promise has settled, or after `ms`, whichever comes first. */
function settledWithin(promises: Iterable<Promise<unknown>>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([Promise.allSettled([...promises]).then(() => undefined), deadline]).finally(() => clearTimeout(timer));
}

function refOf(value: unknown): string | undefined {
  const ref = (value as { ref?: unknown } | null)?.ref;
  return typeof ref === 'string' && ref.length <= 64 ? ref : undefined;
}

export class Gateway {
  private readonly hub: ChannelHub;
  private readonly subscriptions: Subscriptions;
  private readonly publisher: StreamPublisher;
  private readonly repair: StreamRepair;
  private readonly userTopics: TopicRefs;
  private readonly byUser = new Map<string, Set<Connection>>();
  private readonly byDevice = new Map<string, Set<Connection>>();
  private readonly pendingByIp = new Map<string, number>();
  private readonly all = new Set<Connection>();
  private readonly typingSentAt = new Map<string, number>();
  /**
   * Revocations heard on the bus recently (device id → reason, time). A socket whose token was
   * checked just before its device was revoked registers only after the event went by; it is
   * checked against this list when it registers (REV1), instead of waiting for the sweep.
   */
  private readonly recentlyRevoked = new Map<string, { reason: RevocationReason; at: number }>();
  /** Per user, the tail of this instance's presence announcements (see announcePresence). */
  private readonly presenceOrder = new Map<string, Promise<void>>();
  /** Presence departures still being reported (Redis, then the offline event); awaited on shutdown. */
  private readonly departures = new Set<Promise<unknown>>();
  /** Set during shutdown: called when the last socket has left. */
  private onEmpty?: () => void;
  private nextId = 0;
  private closing = false;
  private sweepTimer?: NodeJS.Timeout;
  private expiryTimer?: NodeJS.Timeout;
  private readonly hooks: ConnectionHooks;
  private sweepFailures = 0;
  private controlUnsubscribe?: Unsubscribe;
  private readonly instance = Math.random().toString(36).slice(2, 8);

  constructor(
    private readonly ctx: Ctx,
    readonly presence: PresenceTracker,
  ) {
    this.hub = new ChannelHub(ctx.bus, {
      read: (channelId, afterSeq, limit) => readStreamEvents(ctx.pool, channelId, afterSeq, limit),
      onRepairFailed: (channelId, err) => ctx.log.warn({ err: describeError(err), channelId }, 'stream repair read failed; retrying'),
      // The socket missed events: it catches up from the database after the frames before it.
      onMemberGap: (member, channelId) => {
        const conn = member as Connection;
        conn.enqueue(() => this.subscriptions.catchUp(conn, channelId));
      },
      gapWaitMs: GAP_WAIT_MS,
    });
    this.subscriptions = new Subscriptions({ config: ctx.config, db: ctx.db, pool: ctx.pool, hub: this.hub, presence });
    this.publisher = new StreamPublisher(this.hub, ctx.log);
    this.repair = new StreamRepair({ hub: this.hub, pool: ctx.pool, bus: ctx.bus, log: ctx.log });
    this.userTopics = new TopicRefs(ctx.bus);
    this.hooks = {
      onMessage: (conn, text) => this.onMessage(conn, text),
      onClosed: (conn, reason) => this.forget(conn, reason),
      onTaskFailed: (conn, err) => this.ctx.log.error({ err: describeError(err), conn: conn.id }, 'socket task failed; closing it'),
      maxBufferedBytes: ctx.config.ws.maxBufferedBytes,
    };
  }

  async start(): Promise<void> {
    this.controlUnsubscribe = await this.ctx.bus.subscribe(TOPICS.control, (payload) => this.onControl(payload));
    this.presence.start({
      offline: (changes) => changes.forEach(({ userId, seq }) => void this.announcePresence(userId, 'offline', seq)),
      online: (changes) => changes.forEach(({ userId, seq }) => void this.announcePresence(userId, 'online', seq)),
    });
    this.sweepTimer = setInterval(() => void this.sweep(), this.ctx.config.revocationSweepMs);
    this.sweepTimer.unref();
    this.expiryTimer = setInterval(() => this.checkExpiry(Date.now()), EXPIRY_TICK_MS);
    this.expiryTimer.unref();
    this.repair.start();
  }

  /** Whether another unauthenticated socket may be opened from this address (AUTH7). */
  canAcceptFrom(ip: string): boolean {
    return !this.closing && (this.pendingByIp.get(ip) ?? 0) < this.ctx.config.maxPendingSocketsPerIp;
  }

  /** Number of open sockets (all states). */
  get size(): number {
    return this.all.size;
  }

  accept(socket: GatewaySocket, info: ConnectionInfo): ConnectionHandle {
    const { config } = this.ctx;
    const conn = new Connection(
      `${this.instance}:${++this.nextId}`,
      socket,
      info,
      new TokenBucket(config.ws.ratePerSec, config.ws.burst),
      this.hooks,
    );
    this.all.add(conn);
    this.pendingByIp.set(info.ip, (this.pendingByIp.get(info.ip) ?? 0) + 1);
    this.ctx.metrics.sockets.inc({ state: 'pending' });
    conn.authTimer = setTimeout(() => conn.close('authentication_timeout'), config.authTimeoutMs);
    if (this.closing) conn.close('going_away');
    return conn;
  }

  private onMessage(conn: Connection, text: string): void {
    if (!conn.open || conn.draining) return;
    if (conn.state === 'awaiting_auth') {
      // AUTH2/AUTH3: the first frame must be a well-formed authenticate frame.
      const frame = this.parse(text);
      if (!frame || frame.type !== 'authenticate') return conn.close('authentication_required');
      conn.state = 'authenticating';
      conn.enqueue(() => this.authenticate(conn, frame));
      return;
    }
    // Every answer, refusals and errors included, goes through the chain: a reply never
    // overtakes the replies to frames received before it (AUTH6), e.g. `authenticated`.
    const verdict = conn.bucket.take();
    if (verdict === 'close') {
      // FLOW2: stop reading now; the frames already accepted are answered, then the close.
      conn.draining = true;
      return conn.enqueue(() => conn.close('rate_limited'));
    }
    if (verdict === 'refuse') return conn.enqueue(() => conn.send({ type: 'error', code: 'rate_limited', message: 'Slow down' }));
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return conn.enqueue(() => conn.send({ type: 'error', code: 'invalid_message', message: 'Frame is not JSON' }));
    }
    const parsed = clientFrame.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      const error = { type: 'error', code: 'invalid_message', message: `${where}${issue?.message ?? 'bad frame'}`, ref: refOf(raw) };
      return conn.enqueue(() => conn.send(error));
    }
    const frame = parsed.data;
    conn.enqueue(async () => {
      try {
        await this.handle(conn, frame);
      } catch (err) {
        this.ctx.log.error({ err: describeError(err), type: frame.type }, 'frame handler failed');
        conn.send({ type: 'error', code: 'internal_error', message: 'Something went wrong; try again', ref: frame.ref });
      }
    });
  }

  private parse(text: string): ClientFrame | null {
    try {
      const r = clientFrame.safeParse(JSON.parse(text));
      return r.success ? r.data : null;
    } catch {
      return null;
    }
  }

  private async authenticate(conn: Connection, frame: ClientFrameOf<'authenticate'>): Promise<void> {
    const result = await this.ctx.tokens.verify(frame.token, conn.info.fingerprint);
    if (!conn.open) return;
    if (!result.ok) return conn.close(result.reason);
    const { identity } = result;
    const userConns = this.byUser.get(identity.user.id);
    if ((userConns?.size ?? 0) >= this.ctx.config.maxSocketsPerUser) return conn.close('too_many_sockets');

    conn.clearAuthTimer();
    this.leavePending(conn);
    conn.state = 'authenticated';
    conn.userId = identity.user.id;
    conn.deviceId = identity.deviceId;
    conn.expiresAt = result.expiresAt.getTime();
    this.ctx.metrics.sockets.inc({ state: 'authenticated' });
    add(this.byUser, conn.userId, conn);
    add(this.byDevice, conn.deviceId, conn);
    const revoked = this.recentlyRevoked.get(conn.deviceId);
    if (revoked) return conn.close(revoked.reason);
    // The user's topic (channel_added/channel_removed) is held once per user on this instance,
    // from their first local socket to their last. Every socket waits until it is subscribed, not
    // only the first: a second socket answered `authenticated` while the first one's subscribe
    // is still on its way could miss a membership change (MSG5). A subscribe that failed is gone
    // from the refs, so the next socket of the user tries again.
    const userTopic = TOPICS.user(conn.userId);
    const listening = await (this.userTopics.ready(userTopic) ?? this.userTopics.acquire(userTopic, (payload) => this.onUserEvent(conn.userId, payload))).then(
      () => true,
      (err: Error) => {
        this.ctx.log.warn({ err: describeError(err) }, 'user topic subscribe failed');
        return false;
      },
    );
    // A socket deaf to channel_added/channel_removed would miss membership changes (MSG5).
    if (!listening) return conn.close('try_again_later');
    if (!conn.open) return;
    // SHUT1: shutdown began while this socket authenticated; counting it would announce the
    // user online just before their departure (a flap for everyone watching).
    if (this.closing) return conn.close('going_away');
    // PRES1: the socket counts in presence before its client hears `authenticated`. Otherwise a
    // client that opens a socket on B, then closes its socket on A, could be reported offline
    // (A's removal seeing no other socket yet) and online again when B's count lands.
    conn.inPresence = true;
    const onlineSeq = await this.presence.connect(conn.userId, conn.deviceId).catch((err: Error) => {
      this.ctx.log.warn({ err: describeError(err) }, 'presence connect failed');
      return null;
    });
    if (!conn.open) return;
    conn.send({
      type: 'authenticated',
      user: identity.user,
      deviceId: identity.deviceId,
      expiresAt: result.expiresAt.toISOString(),
      ref: frame.ref,
    });
    this.scheduleExpiry(conn);
    if (onlineSeq !== null) await this.announcePresence(conn.userId, 'online', onlineSeq);
  }

  /** Token lifecycle (TOK1, TOK3): when to warn before expiry; the ticker acts on it. */
  private scheduleExpiry(conn: Connection): void {
    const remaining = conn.expiresAt - Date.now();
    conn.warnAt = conn.expiresAt - Math.min(MAX_TOKEN_WARNING_MS, Math.floor(remaining / 2));
  }

  /** One pass over the sockets: warn those about to expire, close those expired. */
  private checkExpiry(now: number): void {
    for (const conn of this.all) {
      if (conn.state !== 'authenticated') continue;
      if (now >= conn.expiresAt) conn.close('token_expired');
      else if (conn.warnAt && now >= conn.warnAt) {
        conn.warnAt = 0;
        conn.send({ type: 'token_expiring', expiresAt: new Date(conn.expiresAt).toISOString() });
      }
    }
  }

  private async handle(conn: Connection, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'authenticate':
        return conn.send({ type: 'error', code: 'invalid_message', message: 'Already authenticated', ref: frame.ref });
      case 'ping':
        return conn.send({ type: 'pong', ref: frame.ref });
      case 'subscribe':
        return this.subscriptions.subscribe(conn, frame);
      case 'unsubscribe':
        this.unsubscribe(conn, frame.channelId);
        return conn.send({ type: 'unsubscribed', channelId: frame.channelId, ref: frame.ref });
      case 'send':
        return this.sendMessage(conn, frame);
      case 'typing':
        return this.typing(conn, frame);
      case 'refresh':
        return this.refresh(conn, frame);
    }
  }

  private unsubscribe(conn: Connection, channelId: string): void {
    this.subscriptions.unsubscribe(conn, channelId);
  }

  private async sendMessage(conn: Connection, frame: ClientFrameOf<'send'>): Promise<void> {
    const result = await storeMessage(this.ctx.pool, {
      channelId: frame.channelId,
      senderId: conn.userId,
      clientMsgId: frame.clientMsgId,
      body: frame.body,
    }).catch((err: Error & { code?: string }) => {
      // A channel id that is not a uuid cannot be a channel the user belongs to.
      if (err.code === '22P02') return { ok: false as const, reason: 'forbidden' as const };
      throw err;
    });
    if (!result.ok && result.reason === 'client_msg_id_reused') {
      return conn.send({ type: 'error', code: 'invalid_message', message: 'clientMsgId: already used for a message in another channel', ref: frame.ref });
    }
    if (!result.ok) {
      return conn.send({ type: 'error', code: 'forbidden', message: 'Not a member of this channel', ref: frame.ref });
    }
    const { message, duplicate } = result;
    if (!duplicate) this.ctx.metrics.messagesStored.inc();
    // A duplicate is published again: the instance that stored it may have died before its
    // publish (SEQ7). Subscribers that have it drop it by its seq.
    this.publisher.publish(message, conn.id);
    conn.send({ type: 'ack', clientMsgId: frame.clientMsgId, message, ref: frame.ref });
  }

  private async typing(conn: Connection, frame: ClientFrameOf<'typing'>): Promise<void> {
    // TYP1: only a subscribed member types; subscribing checked membership, and removal from the
    // channel drops the subscription (channel_removed).
    if (!conn.channels.has(frame.channelId)) {
      return conn.send({ type: 'error', code: 'forbidden', message: 'Subscribe to the channel first', ref: frame.ref });
    }
    const key = `${conn.userId}:${frame.channelId}`;
    const now = Date.now();
    if (now - (this.typingSentAt.get(key) ?? 0) < TYPING_THROTTLE_MS) return;
    this.typingSentAt.set(key, now);
    if (this.typingSentAt.size > 10_000) {
      for (const [k, t] of this.typingSentAt) if (now - t > TYPING_THROTTLE_MS) this.typingSentAt.delete(k);
    }
    await this.hub
      .publish(frame.channelId, 't', conn.userId, '', JSON.stringify({ type: 'typing', channelId: frame.channelId, userId: conn.userId }))
      .catch(() => {});
  }

  private async refresh(conn: Connection, frame: ClientFrameOf<'refresh'>): Promise<void> {
    const result = await this.ctx.tokens.verify(frame.token, conn.info.fingerprint);
    if (!conn.open) return;
    if (!result.ok) return conn.close(result.reason);
    // TOK4: a token of another user or device never takes over a socket.
    if (result.identity.user.id !== conn.userId || result.identity.deviceId !== conn.deviceId) {
      return conn.close('invalid_token');
    }
    conn.expiresAt = result.expiresAt.getTime();
    this.scheduleExpiry(conn);
    conn.send({ type: 'refreshed', expiresAt: result.expiresAt.toISOString(), ref: frame.ref });
  }

  private onUserEvent(userId: string, payload: string): void {
    const conns = this.byUser.get(userId);
    if (!conns) return;
    let removed: string | undefined;
    if (payload.includes('"channel_removed"')) {
      try {
        removed = (JSON.parse(payload) as { channelId?: string }).channelId;
      } catch {
        return;
      }
    }
    const frame = Buffer.from(payload);
    for (const conn of conns) {
      if (removed) this.unsubscribe(conn, removed);
      conn.sendRaw(frame);
    }
  }

  /**
   * PRES1: one instance's presence events for a user go out in the order they were decided.
   * Each announcement reads the user's channels first; without this chain a quick connect and
   * close could publish `offline` before `online` and leave observers with the wrong state.
   * Across instances no chain helps: there the transition's seq (decided with it in Redis) lets
   * every receiver drop an event that arrives after a later one (ChannelHub).
   */
  private announcePresence(userId: string, status: 'online' | 'offline', seq: number): Promise<void> {
    const next = (this.presenceOrder.get(userId) ?? Promise.resolve()).then(() => this.publishPresence(userId, status, seq));
    this.presenceOrder.set(userId, next);
    void next.then(() => {
      if (this.presenceOrder.get(userId) === next) this.presenceOrder.delete(userId);
    });
    return next;
  }

  private async publishPresence(userId: string, status: 'online' | 'offline', seq: number): Promise<void> {
    try {
      const { rows } = await this.ctx.pool.query<{ channel_id: string }>({
        name: 'relay_user_channels',
        text: 'SELECT channel_id FROM channel_members WHERE user_id = $1',
        values: [userId],
      });
      await Promise.all(
        rows.map(({ channel_id: channelId }) =>
          // The envelope carries the user and seq for ordering; the client frame stays as in the contract.
          this.hub.publish(channelId, 'p', userId, String(seq), JSON.stringify({ type: 'presence', channelId, userId, status })),
        ),
      );
    } catch (err) {
      this.ctx.log.warn({ err: describeError(err) }, 'presence event not published');
    }
  }

  private onControl(payload: string): void {
    let event: ControlEvent;
    try {
      event = JSON.parse(payload) as ControlEvent;
    } catch {
      return;
    }
    if (event.kind === 'revoke_devices') {
      const now = Date.now();
      for (const deviceId of event.deviceIds) {
        this.recentlyRevoked.delete(deviceId); // re-inserted at the end: the map stays in time order
        this.recentlyRevoked.set(deviceId, { reason: event.reason, at: now });
        this.closeDevice(deviceId, event.reason);
      }
      // A token check takes milliseconds; two minutes of memory is plenty, and bounds the map.
      for (const [id, r] of this.recentlyRevoked) {
        if (now - r.at < REVOKED_MEMORY_MS) break;
        this.recentlyRevoked.delete(id);
      }
    }
  }

  private closeDevice(deviceId: string, reason: RevocationReason): void {
    const conns = this.byDevice.get(deviceId);
    if (!conns) return;
    for (const conn of [...conns]) conn.close(reason);
  }

  /** REV3: the backstop for a missed bus event: re-check every live device in the database. */
  async sweep(): Promise<void> {
    const deviceIds = [...this.byDevice.keys()];
    if (deviceIds.length === 0) return;
    try {
      const { rows } = await this.ctx.pool.query<{ id: string; revoked: boolean; reason: string | null; disabled: boolean }>(
        `SELECT d.id, d.revoked_at IS NOT NULL AS revoked, d.revoked_reason AS reason, u.disabled
           FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ANY($1::uuid[])`,
        [deviceIds],
      );
      this.sweepFailures = 0;
      const seen = new Map(rows.map((r) => [r.id, r]));
      for (const deviceId of deviceIds) {
        const row = seen.get(deviceId);
        if (!row) this.closeDevice(deviceId, 'device_revoked');
        else if (row.disabled) this.closeDevice(deviceId, 'account_disabled');
        else if (row.revoked) this.closeDevice(deviceId, row.reason === 'logged_out' ? 'logged_out' : 'device_revoked');
      }
    } catch (err) {
      // Fail closed: sockets whose devices cannot be checked twice in a row are sent away.
      this.sweepFailures += 1;
      this.ctx.log.error({ err: describeError(err), failures: this.sweepFailures }, 'revocation sweep failed');
      if (this.sweepFailures >= 2) for (const conn of [...this.all]) if (conn.state === 'authenticated') conn.close('try_again_later');
    }
  }

  private leavePending(conn: Connection): void {
    const n = (this.pendingByIp.get(conn.info.ip) ?? 1) - 1;
    if (n <= 0) this.pendingByIp.delete(conn.info.ip);
    else this.pendingByIp.set(conn.info.ip, n);
    this.ctx.metrics.sockets.dec({ state: 'pending' });
  }

  /** Removes a closed connection from every index; reports presence when it was the last. */
  private forget(conn: Connection, reason: CloseReason | 'peer_closed'): void {
    conn.clearAuthTimer();
    this.all.delete(conn);
    if (this.all.size === 0) this.onEmpty?.();
    this.ctx.metrics.wsCloses.inc({ reason });
    if (!conn.userId) {
      this.leavePending(conn);
      return;
    }
    this.ctx.metrics.sockets.dec({ state: 'authenticated' });
    for (const channelId of [...conn.channels.keys()]) this.unsubscribe(conn, channelId);
    remove(this.byDevice, conn.deviceId, conn);
    if (remove(this.byUser, conn.userId, conn)) this.userTopics.release(TOPICS.user(conn.userId));
    if (!conn.inPresence) return;
    const { userId, deviceId } = conn;
    const departure = this.presence
      .disconnect(userId, deviceId)
      .then((seq) => (seq !== null ? this.announcePresence(userId, 'offline', seq) : undefined))
      .catch((err: Error) => this.ctx.log.warn({ err: describeError(err) }, 'presence disconnect failed'))
      .finally(() => this.departures.delete(departure));
    this.departures.add(departure);
  }

  /**
   * Shutdown (SHUT1): refuse new sockets and frames; answer the frames already received (an ack
   * for a message being stored is not lost), then close every socket with 1001 going_away; let
   * the offline presence events go out while the bus and the database are still there; stop
   * background work. Both waits are bounded, so a hung handler cannot hold the process.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.sweepTimer);
    clearInterval(this.expiryTimer);
    this.repair.stop();
    const allClosed = new Promise<void>((resolve) => (this.onEmpty = resolve));
    for (const conn of [...this.all]) {
      conn.draining = true;
      conn.enqueue(() => conn.close('going_away'));
    }
    if (this.all.size === 0) this.onEmpty?.();
    await settledWithin([allClosed], SHUTDOWN_DRAIN_MS);
    for (const conn of [...this.all]) conn.close('going_away');
    // The events of messages acked before the close still reach the other instances (SHUT1).
    await settledWithin([...this.departures, ...this.presenceOrder.values(), ...this.publisher.inFlight], SHUTDOWN_DRAIN_MS);
    await this.presence.stop();
    await this.controlUnsubscribe?.().catch(() => {});
    await this.hub.close();
    await this.userTopics.releaseAll();
  }
}

function add<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

/** Returns true when the key's set became empty (and was removed). */
function remove<K, V>(map: Map<K, Set<V>>, key: K, value: V): boolean {
  const set = map.get(key);
  if (!set) return false;
  set.delete(value);
  if (set.size === 0) {
    map.delete(key);
    return true;
  }
  return false;
}
