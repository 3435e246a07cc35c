/**
 * Channel fan-out. Each instance subscribes a channel's bus topic only while one of its sockets
 * is subscribed to the channel, and hands every bus payload to its local subscribers as the
 * same bytes: a frame is serialized and encoded once per event, never once per socket.
 *
 * Bus payload envelope (bus/channel-envelope.ts): `kind|skip|seq|frame-json`, where kind is m (a
 * stream event: a message), t (typing), p (presence) or c (members_changed); `skip` names the
 * connection (m) or user (t) that must not receive it. For m, seq is the channel stream's (SEQ1): each channel's events pass through its
 * ChannelStream (stream.ts), which puts them in order, drops duplicates and repairs gaps. For p,
 * the two fields carry the user and the seq of the transition instead (PRES1): instances publish
 * presence on their own, so an event can arrive after a later one of the same user, and is then
 * dropped. Parsing it costs three indexOf calls, not a JSON.parse per event. A socket whose
 * subscribe has not sent its presence snapshot yet gets the presence events of that channel only
 * once it has, and only those not older than the snapshot (`holdPresence`).
 */
import { TOPICS, type EventBus, type Unsubscribe } from '../bus/bus.js';
import { decodeEnvelope, encodeEnvelope } from '../bus/channel-envelope.js';
import { PRESENCE_SEQ_RESET_GAP_US } from '../presence/presence.js';
import { ChannelStream, type StreamDeps, type StreamEvent } from './stream.js';

export { decodeEnvelope, encodeEnvelope, type EnvelopeKind } from '../bus/channel-envelope.js';

/**
 * How long an instance remembers the last presence seq it delivered for a user. Events are out
 * of order by the time of a database read and a publish, far less than this; forgetting keeps
 * the memory bounded (users seen in the last few minutes), as does the cap.
 */
const PRESENCE_SEQ_MEMORY_MS = 5 * 60_000;
const PRESENCE_SEQ_MAX_USERS = 100_000;

/** A presence event held for a subscribing member (NaN: the event carried no seq). */
interface HeldPresence {
  seq: number;
  frame: Buffer;
}

export interface HubMember {
  readonly id: string;
  readonly userId: string;
  /** `seq` 0: not a stream event. Returns false when the member has a gap to repair. */
  deliver(channelId: string, frame: Buffer, seq: number, skip: string): boolean;
}

export interface HubDeps extends Pick<StreamDeps, 'read' | 'onRepairFailed' | 'gapWaitMs'> {
  /** A member cannot take an event in order (it missed some): it must catch up from the database. */
  onMemberGap(member: HubMember, channelId: string): void;
}

/** Ref-counted bus subscriptions: the first acquire subscribes, the last release unsubscribes. */
export class TopicRefs {
  private readonly active = new Map<string, { count: number; ready: Promise<Unsubscribe> }>();

  constructor(private readonly bus: EventBus) {}

  acquire(topic: string, handler: (payload: string) => void): Promise<unknown> {
    let entry = this.active.get(topic);
    if (!entry) {
      entry = { count: 0, ready: this.bus.subscribe(topic, handler) };
      this.active.set(topic, entry);
      const e = entry;
      e.ready.catch(() => {
        if (this.active.get(topic) === e) this.active.delete(topic);
      });
    }
    entry.count += 1;
    return entry.ready;
  }

  /** The subscription of a topic that is held (pending or done), if any. */
  ready(topic: string): Promise<unknown> | undefined {
    return this.active.get(topic)?.ready;
  }

  release(topic: string): void {
    const entry = this.active.get(topic);
    if (!entry) return;
    entry.count -= 1;
    if (entry.count > 0) return;
    this.active.delete(topic);
    entry.ready.then((unsubscribe) => unsubscribe()).catch(() => {});
  }

  async releaseAll(): Promise<void> {
    const entries = [...this.active.values()];
    this.active.clear();
    await Promise.allSettled(entries.map((e) => e.ready.then((u) => u())));
  }
}

export class ChannelHub {
  private readonly members = new Map<string, Set<HubMember>>();
  /** One stream per channel with local members (SEQ2). */
  private readonly streams = new Map<string, ChannelStream>();
  private readonly topics: TopicRefs;
  private readonly streamDeps: StreamDeps;
  /** Per user, the last presence seq delivered here and when; kept in time order (oldest first). */
  private readonly presenceSeen = new Map<string, { seq: number; at: number }>();
  /**
   * Per channel, members whose subscribe has not sent its presence snapshot yet, with the latest
   * presence event of each user that reached them meanwhile (see `holdPresence`).
   */
  private readonly presenceHolds = new Map<string, Map<HubMember, Map<string, HeldPresence>>>();

  constructor(
    private readonly bus: EventBus,
    private readonly deps: HubDeps,
  ) {
    this.topics = new TopicRefs(bus);
    this.streamDeps = { ...deps, fanOut: (channelId, event) => this.fanOut(channelId, event) };
  }

  /** Adds a member; resolves once the channel's topic is subscribed (no later event is missed). */
  async join(channelId: string, member: HubMember): Promise<void> {
    let set = this.members.get(channelId);
    if (!set) {
      set = new Set();
      this.members.set(channelId, set);
      this.streams.set(channelId, new ChannelStream(channelId, this.streamDeps));
    }
    if (set.has(member)) return;
    set.add(member);
    try {
      await this.topics.acquire(TOPICS.channel(channelId), (payload) => this.deliver(channelId, payload));
    } catch (err) {
      this.leave(channelId, member);
      throw err;
    }
  }

  leave(channelId: string, member: HubMember): void {
    this.dropPresenceHold(channelId, member);
    const set = this.members.get(channelId);
    if (!set?.delete(member)) return;
    if (set.size === 0) {
      this.members.delete(channelId);
      this.streams.get(channelId)?.close();
      this.streams.delete(channelId);
    }
    this.topics.release(TOPICS.channel(channelId));
  }

  /** The channel's stream on this instance, while it has local members. */
  stream(channelId: string): ChannelStream | undefined {
    return this.streams.get(channelId);
  }

  /** Every channel stream on this instance (for the tail check, repair.ts). */
  allStreams(): IterableIterator<ChannelStream> {
    return this.streams.values();
  }

  /** Typing and presence: not stream events, delivered as they come. */
  publish(channelId: string, kind: 't' | 'p', skip: string, seq: string, frame: string): Promise<void> {
    return this.bus.publish(TOPICS.channel(channelId), encodeEnvelope(kind, skip, seq, frame));
  }

  /**
   * A stream event stored by this instance: its local subscribers get it now, in order; the
   * other instances through the bus (the returned publish, which the caller retries).
   */
  offerLocal(channelId: string, event: StreamEvent): void {
    this.streams.get(channelId)?.offer(event);
  }

  publishEvent(channelId: string, seq: number, skip: string, frame: string): Promise<void> {
    return this.bus.publish(TOPICS.channel(channelId), encodeEnvelope('m', skip, String(seq), frame));
  }

  /** Local subscribers of a channel (for tests and metrics). */
  size(channelId: string): number {
    return this.members.get(channelId)?.size ?? 0;
  }

  private deliver(channelId: string, payload: string): void {
    const env = decodeEnvelope(payload);
    if (!env) return;
    if (env.kind === 'm') {
      const stream = this.streams.get(channelId);
      const seq = Number(env.seq);
      if (!stream || !Number.isSafeInteger(seq) || seq < 1) return;
      // Our own events were offered locally already: drop before encoding anything.
      if (stream.delivered !== null && seq <= stream.delivered) return;
      stream.offer({ seq, frame: Buffer.from(env.frame), skip: env.skip });
      return;
    }
    // A kind this instance does not know (a newer instance's, during a rolling deploy) is dropped.
    if (env.kind !== 't' && env.kind !== 'p' && env.kind !== 'c') return;
    const set = this.members.get(channelId);
    if (!set) return;
    if (env.kind === 'p' && this.stalePresence(env.skip, env.seq)) return;
    // Encoded to UTF-8 once for every local subscriber.
    const frame = Buffer.from(env.frame);
    const holds = env.kind === 'p' ? this.presenceHolds.get(channelId) : undefined;
    for (const member of set) {
      if (env.kind === 't' && member.userId === env.skip) continue;
      const held = holds?.get(member);
      if (held) {
        // Only the user's latest event matters: it is re-checked when the snapshot is out.
        held.delete(env.skip); // re-inserted at the end: held events go out in arrival order
        held.set(env.skip, { seq: env.seq ? Number(env.seq) : NaN, frame });
        continue;
      }
      member.deliver(channelId, frame, 0, '');
    }
  }

  /**
   * PRES1: a member's subscribe is about to read a presence snapshot. Presence events that reach
   * it until `releasePresence` are held here, not delivered: one that arrives before the snapshot
   * is noted (`notePresence`) may be older than it, and must not follow it to the client.
   */
  holdPresence(channelId: string, member: HubMember): void {
    let holds = this.presenceHolds.get(channelId);
    if (!holds) {
      holds = new Map();
      this.presenceHolds.set(channelId, holds);
    }
    holds.set(member, new Map());
  }

  /**
   * PRES1: the member has its snapshot: the presence events held for it go out, except those
   * older than what this instance knows of their user now (the snapshot's seqs included).
   */
  releasePresence(channelId: string, member: HubMember): void {
    const held = this.presenceHolds.get(channelId)?.get(member);
    this.dropPresenceHold(channelId, member);
    if (!held) return;
    for (const [userId, { seq, frame }] of held) {
      if (!this.olderThanSeen(userId, seq)) member.deliver(channelId, frame, 0, '');
    }
  }

  private dropPresenceHold(channelId: string, member: HubMember): void {
    const holds = this.presenceHolds.get(channelId);
    if (!holds?.delete(member)) return;
    if (holds.size === 0) this.presenceHolds.delete(channelId);
  }

  private fanOut(channelId: string, event: StreamEvent): void {
    const set = this.members.get(channelId);
    if (!set) return;
    for (const member of set) {
      if (!member.deliver(channelId, event.frame, event.seq, event.skip)) this.deps.onMemberGap(member, channelId);
    }
  }

  /**
   * PRES1: whether a presence event is older than the last one delivered here for its user (a
   * transition Redis decided earlier, published late). Equal seqs pass: one transition is
   * published once per channel of the user. An event without a seq is delivered.
   */
  private stalePresence(userId: string, seqText: string): boolean {
    const seq = Number(seqText);
    if (!userId || !seqText || !Number.isSafeInteger(seq)) return false;
    const now = Date.now();
    for (const [id, seen] of this.presenceSeen) {
      if (now - seen.at < PRESENCE_SEQ_MEMORY_MS && this.presenceSeen.size < PRESENCE_SEQ_MAX_USERS) break;
      this.presenceSeen.delete(id);
    }
    if (this.olderThanSeen(userId, seq)) return true;
    this.presenceSeen.delete(userId); // re-inserted at the end: the map stays in time order
    this.presenceSeen.set(userId, { seq, at: now });
    return false;
  }

  /**
   * Whether `seq` is older than the last presence seq known here for the user. Far below it is no
   * late event but a counter that went back (Redis restored on a host whose clock is behind):
   * that is accepted, or this user's events would be dropped for minutes. Publishers make sure no
   * late event is ever that far below (PresenceTracker.reaffirm), so the two cannot be confused.
   */
  private olderThanSeen(userId: string, seq: number): boolean {
    const last = this.presenceSeen.get(userId);
    return !!last && Number.isSafeInteger(seq) && seq < last.seq && last.seq - seq < PRESENCE_SEQ_RESET_GAP_US;
  }

  /**
   * PRES1: a presence snapshot was read with these seqs; an event older than them arriving
   * later is stale (it is already reflected, or overturned, in the snapshot).
   */
  notePresence(seqs: ReadonlyMap<string, number>): void {
    const now = Date.now();
    for (const [userId, seq] of seqs) {
      const last = this.presenceSeen.get(userId);
      if (last && last.seq >= seq) continue;
      this.presenceSeen.delete(userId); // re-inserted at the end: the map stays in time order
      this.presenceSeen.set(userId, { seq, at: now });
    }
  }

  close(): Promise<void> {
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
    this.members.clear();
    this.presenceSeen.clear();
    this.presenceHolds.clear();
    return this.topics.releaseAll();
  }
}
