/**
 * The realtime gateway core: the life of a socket (accept, authenticate, frames in order, token
 * lifecycle, close) and the indexes of live sockets; it hands each job to its module:
 * subscriptions.ts, messaging.ts, presence-announcer.ts, revocations.ts, and the channel stream
 * (delivery.ts, hub.ts, stream.ts, repair.ts). It never imports `ws` (see socket.ts); the rules
 * it implements are numbered in SPEC.md and cited by the tests.
 *
 * Guarantees:
 * - A socket joins nothing (no channel, no user topic, no presence) before its token, its
 *   fingerprint cookie and its device's row have been verified (AUTH1–AUTH6), and gets no frame
 *   before `authenticated`: its user's events from meanwhile follow it (AUTH6, MSG5).
 * - (v2) A bound device's socket is admitted, and its token refreshed, only with a proof signed by
 *   the device's stored key over the latest nonce this socket was given, each nonce good once
 *   (POP1–POP5). The `challenge` with the first nonce is the only frame before `authenticated`.
 * - A device revoked anywhere loses its sockets on every instance: through the bus at once, and
 *   through the periodic sweep of the database if a bus event was missed (REV1–REV3,
 *   revocations.ts).
 * - A message is acknowledged only after it is stored; a retried clientMsgId is acknowledged
 *   with the stored message and never stored twice (MSG1–MSG4).
 * - Each channel's events reach every subscribed socket in seq order, once, without a gap
 *   (SEQ1–SEQ7).
 */
import { clientFrame, type ClientFrame, type ClientFrameOf } from '../../shared/protocol.js';
import type { CloseReason } from '../../shared/codes.js';
import { TOPICS, type Unsubscribe } from '../bus/bus.js';
import type { AppContext } from '../context.js';
import { newNonce, verifySocketProof } from '../auth/pop.js';
import type { BoundKey } from '../auth/tokens.js';
import { describeError } from '../logger.js';
import type { PresenceTracker } from '../presence/presence.js';
import { Connection, type ConnectionHooks } from './connection.js';
import { readStreamEvents, StreamPublisher } from './delivery.js';
import { ChannelHub, TopicRefs } from './hub.js';
import { TokenBucket } from './limiter.js';
import { Messaging } from './messaging.js';
import { PresenceAnnouncer } from './presence-announcer.js';
import { StreamRepair } from './repair.js';
import { limitConcurrency } from './stream.js';
import { Revocations } from './revocations.js';
import { Subscriptions } from './subscriptions.js';
import type { ConnectionHandle, ConnectionInfo, GatewaySocket } from './socket.js';

type Ctx = Pick<AppContext, 'config' | 'log' | 'db' | 'pool' | 'bus' | 'tokens' | 'metrics' | 'proofs'>;

const MAX_TOKEN_WARNING_MS = 60_000;
/** Granularity of token_expiring / token_expired: one shared timer for every socket. */
const EXPIRY_TICK_MS = 250;
/** SHUT1: how long shutdown waits for answers to frames already received, and for presence events. */
const SHUTDOWN_DRAIN_MS = 2_000;
/** SEQ2: how long an out-of-order event waits for the missing ones on the bus before they are read. */
const GAP_WAIT_MS = 50;
/** Stream repairs reading Postgres at once (a bus reconnect repairs every stream together). */
const STREAM_REPAIR_READS = 4;

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
  private readonly revocations: Revocations;
  private readonly announcer: PresenceAnnouncer;
  private readonly messaging: Messaging;
  /** Presence departures still being reported (Redis, then the offline event); awaited on shutdown. */
  private readonly departures = new Set<Promise<unknown>>();
  /** Set during shutdown: called when the last socket has left. */
  private onEmpty?: () => void;
  private nextId = 0;
  private closing = false;
  private sweepTimer?: NodeJS.Timeout;
  private expiryTimer?: NodeJS.Timeout;
  private readonly hooks: ConnectionHooks;
  private controlUnsubscribe?: Unsubscribe;
  private readonly instance = Math.random().toString(36).slice(2, 8);

  constructor(
    private readonly ctx: Ctx,
    readonly presence: PresenceTracker,
  ) {
    this.hub = new ChannelHub(ctx.bus, {
      read: limitConcurrency((channelId: string, afterSeq: number, limit: number) => readStreamEvents(ctx.pool, channelId, afterSeq, limit), STREAM_REPAIR_READS),
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
    this.revocations = new Revocations({
      pool: ctx.pool,
      log: ctx.log,
      devices: this.byDevice,
      authenticated: () => [...this.all].filter((c) => c.state === 'authenticated'),
      failureSpreadMs: ctx.config.revocationFailureSpreadMs,
    });
    this.announcer = new PresenceAnnouncer({ pool: ctx.pool, hub: this.hub, log: ctx.log, presence });
    this.messaging = new Messaging({ pool: ctx.pool, bus: ctx.bus, log: ctx.log, metrics: ctx.metrics, hub: this.hub, publisher: this.publisher });
    this.userTopics = new TopicRefs(ctx.bus);
    this.hooks = {
      onMessage: (conn, text) => this.onMessage(conn, text),
      onClosed: (conn, reason) => this.forget(conn, reason),
      onTaskFailed: (conn, err) => this.ctx.log.error({ err: describeError(err), conn: conn.id }, 'socket task failed; closing it'),
      maxBufferedBytes: ctx.config.ws.maxBufferedBytes,
    };
  }

  async start(): Promise<void> {
    this.controlUnsubscribe = await this.ctx.bus.subscribe(TOPICS.control, (payload) => this.revocations.onControl(payload));
    this.presence.start({
      offline: (changes) => changes.forEach(({ userId, seq }) => void this.announcer.announce(userId, 'offline', seq)),
      online: (changes) => changes.forEach(({ userId, seq }) => void this.announcer.announce(userId, 'online', seq)),
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
    // POP2: the first nonce, before anything else (the only frame before `authenticated`, AUTH6).
    conn.nonce = newNonce();
    conn.send({ type: 'challenge', nonce: conn.nonce });
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

  /**
   * POP3–POP5: whether the frame proves possession of the device's key, with `nonce` (already
   * consumed). An unbound device needs no proof unless DEVICE_BINDING=required. Returns null
   * for an unbound device admitted without one.
   */
  private async proves(bound: BoundKey | undefined, frame: { token: string; proof?: string }, nonce: string | undefined): Promise<boolean | null> {
    if (!bound) return this.ctx.config.deviceBinding === 'required' ? false : null;
    let key;
    try {
      key = await this.ctx.proofs.keys.get(bound.jkt, bound.jwk); // POP5: the instance's one cache, shared with POP8
    } catch {
      return false;
    }
    return verifySocketProof(frame.proof, key, { nonce, token: frame.token });
  }

  private async authenticate(conn: Connection, frame: ClientFrameOf<'authenticate'>): Promise<void> {
    // POP2: the nonce is spent by this attempt, whatever its outcome.
    const nonce = conn.nonce;
    conn.nonce = undefined;
    const result = await this.ctx.tokens.verify(frame.token, conn.info.fingerprint);
    if (!conn.open) return;
    if (!result.ok) return conn.close(result.reason);
    const { identity } = result;
    const proven = await this.proves(result.key, frame, nonce);
    if (!conn.open) return;
    if (proven === false) return conn.close('invalid_proof');
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
    const revoked = this.revocations.recent(conn.deviceId);
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
    // AUTH6: the first frame; user events that came while this socket authenticated follow it.
    conn.welcome({
      type: 'authenticated',
      user: identity.user,
      deviceId: identity.deviceId,
      expiresAt: result.expiresAt.toISOString(),
      nonce: (conn.nonce = newNonce()),
      ref: frame.ref,
    });
    this.scheduleExpiry(conn);
    if (onlineSeq !== null) await this.announcer.announce(conn.userId, 'online', onlineSeq);
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
        return this.messaging.send(conn, frame);
      case 'typing':
        return this.messaging.typing(conn, frame);
      case 'edit':
        return this.messaging.edit(conn, frame);
      case 'delete':
        return this.messaging.delete(conn, frame);
      case 'read':
        return this.messaging.read(conn, frame);
      case 'refresh':
        return this.refresh(conn, frame);
    }
  }

  private unsubscribe(conn: Connection, channelId: string): void {
    this.subscriptions.unsubscribe(conn, channelId);
  }

  private async refresh(conn: Connection, frame: ClientFrameOf<'refresh'>): Promise<void> {
    const nonce = conn.nonce; // POP2: spent by this refresh, whatever its outcome
    conn.nonce = undefined;
    const result = await this.ctx.tokens.verify(frame.token, conn.info.fingerprint);
    if (!conn.open) return;
    if (!result.ok) return conn.close(result.reason);
    // TOK4: a token of another user or device never takes over a socket.
    if (result.identity.user.id !== conn.userId || result.identity.deviceId !== conn.deviceId) {
      return conn.close('invalid_token');
    }
    const proven = await this.proves(result.key, frame, nonce);
    if (!conn.open) return;
    if (proven === false) return conn.close('invalid_proof');
    conn.expiresAt = result.expiresAt.getTime();
    this.scheduleExpiry(conn);
    conn.send({ type: 'refreshed', expiresAt: result.expiresAt.toISOString(), nonce: (conn.nonce = newNonce()), ref: frame.ref });
  }

  private onUserEvent(userId: string, raw: string): void {
    const conns = this.byUser.get(userId);
    if (!conns) return;
    // `connId|frame`: the socket that asked got its own answer (a `read` with its ref).
    const bar = raw.startsWith('{') ? -1 : raw.indexOf('|');
    const skip = bar > 0 ? raw.slice(0, bar) : '';
    const payload = bar > 0 ? raw.slice(bar + 1) : raw;
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
      if (conn.id !== skip) conn.sendEvent(frame);
    }
  }

  /** REV3: the backstop for a missed bus event (public for tests). */
  sweep(): Promise<void> {
    return this.revocations.sweep();
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
      .then((seq) => (seq !== null ? this.announcer.announce(userId, 'offline', seq) : undefined))
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
    this.presence.drain(); // a presence.connect still in flight announces no online now
    clearInterval(this.sweepTimer);
    this.revocations.stop();
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
    await settledWithin([...this.departures, ...this.announcer.pending(), ...this.publisher.inFlight], SHUTDOWN_DRAIN_MS);
    await this.presence.stop();
    // Users whose departures did not reach Redis in time went offline in stop(): announce them.
    await settledWithin(this.announcer.pending(), SHUTDOWN_DRAIN_MS);
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
