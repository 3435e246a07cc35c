/**
 * The chat's client-side state: channels, message history per channel, the outbox, drafts,
 * presence, typing and the connection status. Fed by the HTTP API and the RealtimeClient; React
 * reads it through useStore (a version number that bumps on every change).
 *
 * Messages are kept per channel, sorted by seq and deduplicated by id, so a history page, a
 * `sinceSeq` replay and a live frame that overlap still show each message exactly once. A loaded
 * conversation has no hole between its history and its live stream: when the stream starts
 * past the newest message fetched, the messages between are fetched too.
 */
import type { Channel, Message, User, UserSummary } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { forgetDeviceKeyWhenSessionEnds, loadDeviceKey } from '../auth/device-key.js';
import { describeError } from '../api/http.js';
import { RealtimeClient, type ConnectionStatus, type OutboxEntry } from '../realtime/client.js';
import { Jumps } from './message-window.js';
import { ReadState, type Counts } from './read-state.js';
import { SearchState } from './search.js';
import { UserStorage } from './user-storage.js';

export const PAGE_SIZE = 50;
/** Filling a hole between history and the stream: the most the API gives per page. */
const FILL_PAGE = 200;
const TYPING_SHOWN_MS = 5_000;
/** A draft is written to storage once typing pauses this long (and at once on leaving). */
const DRAFT_SAVE_MS = 400;
/** Read counts that went stale are fetched again once events pause this long (one request for a burst). */
const COUNTS_REFRESH_MS = 300;

export interface ChannelView {
  messages: Message[];
  /** The latest page has been fetched over HTTP. */
  loaded: boolean;
  loading: boolean;
  loadingOlder: boolean;
  /** Fetching the messages between the history held and the start of the live stream. */
  filling: boolean;
  /** There may be older messages than the first one held. */
  hasMore: boolean;
  error?: string;
}

export type Person = Pick<UserSummary, 'id' | 'username' | 'displayName'>;

export class ChatStore {
  version = 0;
  readonly channels = new Map<string, Channel>();
  readonly views = new Map<string, ChannelView>();
  readonly people = new Map<string, Person>();
  readonly presence = new Map<string, 'online' | 'offline'>();
  /** channelId → userId → until (epoch ms). */
  readonly typing = new Map<string, Map<string, number>>();
  outbox: OutboxEntry[] = [];
  status: ConnectionStatus;
  activeId: string | null = null;
  channelsLoaded = false;
  loadError: string | null = null;
  /** The latest message from someone else in the open channel, for the screen reader live region. */
  announcement = '';
  /** Composer text per channel. */
  readonly drafts = new Map<string, string>();
  /** The drafts of earlier pages have been read from storage. */
  draftsLoaded = false;

  /** Our read cursors and the unread counts that follow (read-state.ts). */
  readonly reads: ReadState;
  /** Direct channels: how far the other person has read (from their live `read` events since this page loaded). */
  readonly receipts = new Map<string, number>();
  /** The conversation scrolled to its newest message (null: none). */
  private bottomOf: string | null = null;
  /** The id of our message being edited in place. */
  editing: string | null = null;
  /** Message search (search.ts) and opening a conversation at a found message (message-window.ts). */
  readonly search = new SearchState();
  readonly jumps = new Jumps(this);
  private countsTimer: ReturnType<typeof setTimeout> | null = null;

  private readonly draftTimers = new Map<string, ReturnType<typeof setTimeout>>();

  private peopleTimer: ReturnType<typeof setTimeout> | null = null;
  /** Ids seen in channels whose people are not loaded yet. */
  private readonly unknownPeople = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private readonly offs: Array<() => void> = [];
  private typingTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    /** Replaced when we rename ourselves (takeUser). */
    public me: User,
    readonly deviceId: string,
    private readonly saved: UserStorage = new UserStorage(me.id),
    readonly rt: RealtimeClient = new RealtimeClient({ outboxStorage: saved, proofKey: () => loadDeviceKey(deviceId) }),
  ) {
    this.status = rt.getStatus();
    this.offs.push(forgetDeviceKeyWhenSessionEnds(rt, deviceId));
    this.reads = new ReadState(me.id, () => this.refreshCountsSoon());
    this.people.set(me.id, me);
    this.offs.push(
      rt.on('status', (s) => {
        this.status = s;
        this.changed();
        if (s.state === 'live') this.maybeMarkRead();
      }),
      rt.on('outbox', (o) => {
        this.outbox = o;
        this.changed();
      }),
      rt.on('message', ({ message }) => this.onMessage(message)),
      rt.on('subscribed', (f) => {
        for (const [userId, status] of Object.entries(f.presence)) this.presence.set(userId, status);
        this.reads.moveTo(f.channelId, f.readSeq);
        this.reads.streamStarts(f.channelId, f.lastSeq);
        void this.fillToStream(f.channelId);
        this.changed();
      }),
      rt.on('presence', ({ userId, status }) => {
        this.presence.set(userId, status);
        this.changed();
      }),
      rt.on('typing', ({ channelId, userId }) => {
        if (userId === this.me.id) return;
        let m = this.typing.get(channelId);
        if (!m) this.typing.set(channelId, (m = new Map()));
        m.set(userId, Date.now() + TYPING_SHOWN_MS);
        this.changed();
      }),
      rt.on('channel_added', ({ channel }) => this.addChannel(channel)),
      rt.on('channel_removed', ({ channelId }) => this.removeChannel(channelId)),
      rt.on('members_changed', (change) => this.changeMembers(change)),
      rt.on('user_updated', ({ user }) => this.takeUser(user)),
      rt.on('read', (r) => this.onRead(r)),
      rt.on('message_updated', ({ message }) => this.replaceMessage(message.channelId, message.id, () => message)),
      rt.on('message_deleted', ({ channelId, messageId }) =>
        // The tombstone as the server keeps it (EDIT2): no body, no mentions.
        this.replaceMessage(channelId, messageId, (m) => ({ ...m, body: '', mentions: [], deletedAt: m.deletedAt ?? new Date().toISOString() })),
      ),
    );
    this.typingTimer = setInterval(() => this.expireTyping(), 1_000);
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getVersion = (): number => this.version;

  /** Loads channels and people, subscribes to every channel we belong to, and connects. */
  async start(): Promise<void> {
    this.rt.connect();
    void this.loadDrafts();
    try {
      const [channels, users] = await Promise.all([api.channels(), api.users()]);
      for (const u of users) {
        this.people.set(u.id, u);
        this.presence.set(u.id, u.online ? 'online' : 'offline');
      }
      for (const c of channels) this.addChannel(c, { quiet: true });
      this.takeCounts(channels);
      this.channelsLoaded = true;
      this.loadError = null;
    } catch (err) {
      this.loadError = describeError(err);
    }
    if (this.activeId && !this.channels.has(this.activeId)) this.activeId = null;
    if (this.activeId) void this.ensureLoaded(this.activeId);
    this.changed();
  }

  /** Fetches the channel list again (public channels made by others reach nobody by socket). */
  async refreshChannels(): Promise<void> {
    const channels = await api.channels();
    for (const c of channels) this.addChannel(c, { quiet: true });
    this.takeCounts(channels);
    this.ensurePeople(channels.flatMap((c) => (this.isMember(c) ? c.memberIds : [])));
    this.changed();
  }

  dispose(): void {
    this.flushDrafts();
    this.search.dispose();
    this.jumps.dispose();
    for (const off of this.offs) off();
    if (this.typingTimer) clearInterval(this.typingTimer);
    if (this.peopleTimer) clearTimeout(this.peopleTimer);
    if (this.countsTimer) clearTimeout(this.countsTimer);
    this.rt.disconnect();
    this.listeners.clear();
  }

  // ------------------------------------------------------------ reading

  isMember(c: Channel): boolean {
    return c.memberIds.includes(this.me.id);
  }

  /** The name to show: a direct channel is named after the other person. */
  channelTitle(c: Channel): string {
    if (c.kind !== 'direct') return c.name;
    const other = c.memberIds.find((id) => id !== this.me.id) ?? this.me.id;
    return this.personName(other);
  }

  /**
   * Someone's presence as far as we know it: undefined (unknown, no dot shown) while our own
   * connection is not live, since the last known state may have changed unseen.
   */
  presenceOf(userId: string): 'online' | 'offline' | undefined {
    if (this.status.state !== 'live') return undefined;
    return this.presence.get(userId) ?? 'offline';
  }

  directPartner(c: Channel): string | undefined {
    return c.kind === 'direct' ? (c.memberIds.find((id) => id !== this.me.id) ?? this.me.id) : undefined;
  }

  personName(userId: string): string {
    const p = this.people.get(userId);
    return p ? p.displayName || p.username : 'Unknown user';
  }

  view(channelId: string): ChannelView {
    let v = this.views.get(channelId);
    if (!v) {
      v = { messages: [], loaded: false, loading: false, loadingOlder: false, filling: false, hasMore: true };
      this.views.set(channelId, v);
    }
    return v;
  }

  typingIn(channelId: string): string[] {
    const m = this.typing.get(channelId);
    if (!m) return [];
    const now = Date.now();
    return [...m].filter(([, until]) => until > now).map(([userId]) => userId);
  }

  outboxFor(channelId: string): OutboxEntry[] {
    return this.outbox.filter((e) => e.channelId === channelId);
  }

  // ------------------------------------------------------------ actions

  select(channelId: string | null): void {
    this.activeId = channelId;
    this.announcement = '';
    this.editing = null;
    if (channelId) void this.ensureLoaded(channelId);
    this.maybeMarkRead();
    this.changed();
  }

  async ensureLoaded(channelId: string): Promise<void> {
    const v = this.view(channelId);
    if (v.loaded || v.loading) return;
    await this.loadLatest(channelId);
  }

  async loadLatest(channelId: string): Promise<void> {
    const v = this.view(channelId);
    v.loading = true;
    v.error = undefined;
    this.changed();
    try {
      const page = await api.messages(channelId, { limit: PAGE_SIZE });
      this.merge(channelId, page);
      this.ensurePeople(page.map((m) => m.senderId));
      v.loaded = true;
      v.hasMore = page.length === PAGE_SIZE;
    } catch (err) {
      v.error = describeError(err);
    } finally {
      v.loading = false;
      this.changed();
    }
    await this.fillToStream(channelId);
  }

  /**
   * The page was fetched before the channel's stream began (a page load races its subscribe):
   * fetches the messages after the newest one held up to the stream's position.
   */
  private async fillToStream(channelId: string): Promise<void> {
    const v = this.views.get(channelId);
    if (!v?.loaded || v.filling) return;
    v.filling = true;
    try {
      for (;;) {
        const upTo = this.rt.position(channelId);
        const after = v.messages.at(-1)?.seq ?? 0;
        if (upTo === undefined || after >= upTo) return;
        const page = await api.messages(channelId, { afterSeq: after, limit: FILL_PAGE });
        if (this.views.get(channelId) !== v) return;
        this.merge(channelId, page);
        this.ensurePeople(page.map((m) => m.senderId));
        this.changed();
        // The seqs up to the position may be edits and deletions, not messages.
        if (page.length < FILL_PAGE) return;
      }
    } catch (err) {
      v.error = describeError(err);
      this.changed();
    } finally {
      v.filling = false;
    }
  }

  /** Fetches the page before the oldest message held. Resolves to the number of messages added. */
  async loadOlder(channelId: string): Promise<number> {
    const v = this.view(channelId);
    if (v.loadingOlder || !v.hasMore || !v.loaded) return 0;
    const oldest = v.messages[0];
    if (!oldest) {
      v.hasMore = false;
      return 0;
    }
    v.loadingOlder = true;
    this.changed();
    try {
      const page = await api.messages(channelId, { beforeSeq: oldest.seq, limit: PAGE_SIZE });
      const added = this.merge(channelId, page);
      v.hasMore = page.length === PAGE_SIZE;
      return added;
    } catch (err) {
      v.error = describeError(err);
      return 0;
    } finally {
      v.loadingOlder = false;
      this.changed();
    }
  }

  /** The open conversation is (or is no longer) scrolled to its newest message. */
  setAtBottom(channelId: string, atBottom: boolean): void {
    if (atBottom) this.bottomOf = channelId;
    else if (this.bottomOf === channelId) this.bottomOf = null;
    if (atBottom) this.maybeMarkRead();
  }

  setEditing(messageId: string | null): void {
    this.editing = messageId;
    this.changed();
  }

  /** Our newest message in the channel that can still be edited (Up in an empty composer edits it). */
  lastOwnMessage(channelId: string): Message | undefined {
    return this.views.get(channelId)?.messages.findLast((m) => m.senderId === this.me.id && !m.deletedAt);
  }

  /**
   * Moves our read cursor to the newest message of the open conversation, only when it has
   * been seen: the conversation loaded and scrolled to the bottom, in a focused, visible window.
   * Opening a channel is not reading it (the tab may be in the background). The cursor moves
   * here at once, so the badges do not flash; the server's `read` event confirms it.
   */
  maybeMarkRead(): void {
    const channelId = this.activeId;
    if (!channelId || this.bottomOf !== channelId) return;
    if (typeof document !== 'undefined' && (document.visibilityState !== 'visible' || !document.hasFocus())) return;
    const v = this.views.get(channelId);
    const newest = v?.messages.at(-1)?.seq;
    if (!v?.loaded || newest === undefined || newest <= (this.reads.readSeq(channelId) ?? 0)) return;
    if (!this.rt.markRead(channelId, newest)) return;
    this.reads.moveTo(channelId, newest);
    this.changed();
  }

  /** Unread messages and mentions of us in the channel. */
  countsOf(channelId: string): Counts {
    const c = this.channels.get(channelId);
    if (!c || !this.isMember(c)) return { unread: 0, mentions: 0 };
    const v = this.views.get(channelId);
    const held = v
      ? { messages: v.messages, contiguous: v.loaded && !v.filling, complete: v.loaded && !v.hasMore }
      : { messages: [], contiguous: false, complete: false };
    return this.reads.counts(channelId, held);
  }

  totalUnread(): number {
    let n = 0;
    for (const id of this.channels.keys()) n += this.countsOf(id).unread;
    return n;
  }

  /** The last of our messages in a direct channel that the other person has read (since this page loaded). */
  seenUpTo(channelId: string): number | undefined {
    return this.receipts.get(channelId);
  }

  /** Edits the body of one of our messages; rejects with the server's reason. */
  edit(channelId: string, messageId: string, body: string): Promise<void> {
    return this.rt.edit(channelId, messageId, body);
  }

  deleteMessage(channelId: string, messageId: string): Promise<void> {
    return this.rt.delete(channelId, messageId);
  }

  async setMuted(channelId: string, muted: boolean): Promise<void> {
    const r = await api.mute(channelId, muted);
    const c = this.channels.get(channelId);
    if (c) this.channels.set(channelId, { ...c, muted: r.muted });
    this.changed();
  }

  send(channelId: string, body: string): void {
    this.rt.send(channelId, body);
    this.setDraft(channelId, '');
    this.flushDrafts(channelId);
  }

  /** Unsent messages, pending or failed: leaving the page now would strand them. */
  hasUnsent(): boolean {
    return this.rt.getOutbox().length > 0;
  }

  draft(channelId: string): string {
    return this.drafts.get(channelId) ?? '';
  }

  /** Keeps the composer's text; written to storage once typing pauses. */
  setDraft(channelId: string, text: string): void {
    if (text) this.drafts.set(channelId, text);
    else this.drafts.delete(channelId);
    const pending = this.draftTimers.get(channelId);
    if (pending) clearTimeout(pending);
    this.draftTimers.set(
      channelId,
      setTimeout(() => this.flushDrafts(channelId), DRAFT_SAVE_MS),
    );
  }

  /** Writes drafts waiting for a pause now (leaving the channel or the page); all when no channel is named. */
  flushDrafts(channelId?: string): void {
    for (const id of channelId ? [channelId] : [...this.draftTimers.keys()]) {
      const timer = this.draftTimers.get(id);
      if (!timer) continue;
      clearTimeout(timer);
      this.draftTimers.delete(id);
      this.saved.saveDraft(id, this.draft(id)).catch((err: unknown) => console.warn('[relay] could not save a draft', err));
    }
  }

  private async loadDrafts(): Promise<void> {
    try {
      // A draft typed on this page before storage answered is newer than the stored one.
      for (const [channelId, text] of await this.saved.loadDrafts()) if (!this.drafts.has(channelId)) this.drafts.set(channelId, text);
    } catch (err) {
      console.warn('[relay] could not read drafts', err);
    }
    this.draftsLoaded = true;
    this.changed();
  }

  retry(clientMsgId: string): void {
    this.rt.retry(clientMsgId);
  }

  discard(clientMsgId: string): void {
    this.rt.discard(clientMsgId);
  }

  typingNow(channelId: string): void {
    this.rt.typing(channelId);
  }

  async createChannel(name: string, kind: 'public' | 'private', memberIds: string[]): Promise<Channel> {
    const c = await api.createChannel(name, kind, memberIds);
    this.addChannel(c);
    this.select(c.id);
    return c;
  }

  async openDirect(userId: string): Promise<Channel> {
    const c = await api.direct(userId);
    this.addChannel(c);
    this.select(c.id);
    return c;
  }

  async join(channelId: string): Promise<void> {
    const c = await api.joinChannel(channelId);
    this.addChannel(c);
    this.select(c.id);
  }

  /** Adds someone to a channel we belong to; the answer's member list replaces ours at once. */
  async addMember(channelId: string, userId: string): Promise<Channel> {
    const c = await api.addMember(channelId, userId);
    this.addChannel(c);
    return c;
  }

  async leave(channelId: string): Promise<void> {
    await api.leaveChannel(channelId);
    const c = this.channels.get(channelId);
    if (c && c.kind === 'public') this.channels.set(channelId, { ...c, memberIds: c.memberIds.filter((id) => id !== this.me.id) });
    else this.channels.delete(channelId);
    this.rt.unsubscribe(channelId);
    this.views.delete(channelId);
    if (this.activeId === channelId) this.activeId = null;
    this.changed();
  }

  /**
   * People we cannot name yet (newcomers, or beyond the first page of the directory): look them
   * up by id, batching the ids seen within 200 ms into one request.
   */
  ensurePeople(ids: Iterable<string>): void {
    for (const id of ids) if (!this.people.has(id)) this.unknownPeople.add(id);
    if (this.unknownPeople.size === 0 || this.peopleTimer) return;
    this.peopleTimer = setTimeout(() => {
      const wanted = [...this.unknownPeople].slice(0, 100);
      for (const id of wanted) this.unknownPeople.delete(id);
      api.usersByIds(wanted).then(
        (users) => {
          this.peopleTimer = null;
          for (const u of users) {
            this.people.set(u.id, u);
            if (!this.presence.has(u.id)) this.presence.set(u.id, u.online ? 'online' : 'offline');
          }
          this.changed();
          if (this.unknownPeople.size) this.ensurePeople([]);
        },
        () => {
          this.peopleTimer = null;
        },
      );
    }, 200);
  }

  /** A user's new name (a `user_updated` event, or our own rename's answer): shown everywhere at once. */
  takeUser(user: User): void {
    this.people.set(user.id, { id: user.id, username: user.username, displayName: user.displayName });
    if (user.id === this.me.id) this.me = { ...this.me, displayName: user.displayName };
    this.changed();
  }

  /**
   * Older history fetched elsewhere (a window opened at a search result) that reaches the held
   * messages: they become one conversation again. `hasOlder`: there may be messages before them.
   */
  adoptHistory(channelId: string, messages: Message[], hasOlder: boolean): void {
    const v = this.view(channelId);
    const oldest = v.messages[0]?.seq;
    this.merge(channelId, messages);
    if (oldest === undefined || (messages[0] && messages[0].seq < oldest)) v.hasMore = hasOlder;
    this.ensurePeople(messages.map((m) => m.senderId));
    this.changed();
  }

  rememberPeople(list: Person[]): void {
    for (const p of list) this.people.set(p.id, p);
    this.changed();
  }

  // ------------------------------------------------------------ events

  /** The server's read numbers of each of our channels. */
  private takeCounts(channels: Channel[]): void {
    for (const c of channels) {
      if (c.readSeq !== undefined && this.isMember(c))
        this.reads.fromServer(c.id, { readSeq: c.readSeq, unread: c.unread ?? 0, mentions: c.mentions ?? 0, lastSeq: c.lastSeq ?? c.readSeq });
      // The other person's cursor in a direct channel: "Seen" right after a reload, too.
      if (c.peerReadSeq !== undefined && c.peerReadSeq > (this.receipts.get(c.id) ?? 0)) this.receipts.set(c.id, c.peerReadSeq);
    }
  }

  /** Some channel's counts went stale: one fetch of the channel list for a burst of reasons. */
  private refreshCountsSoon(): void {
    if (this.countsTimer) return;
    this.countsTimer = setTimeout(() => {
      api.channels().then(
        (channels) => {
          this.countsTimer = null;
          this.takeCounts(channels);
          this.changed();
        },
        () => {
          this.countsTimer = null;
        },
      );
    }, COUNTS_REFRESH_MS);
  }

  private onRead({ channelId, userId, seq }: { channelId: string; userId: string; seq: number }): void {
    if (userId === this.me.id) {
      if (this.reads.moveTo(channelId, seq)) this.changed();
      return;
    }
    // Someone else's cursor reaches us only in a direct channel: a read receipt.
    if (seq > (this.receipts.get(channelId) ?? 0)) {
      this.receipts.set(channelId, seq);
      this.changed();
    }
  }

  /** An edit or a deletion: the held message (if any) takes its new state in place. */
  private replaceMessage(channelId: string, messageId: string, next: (m: Message) => Message): void {
    const v = this.views.get(channelId);
    const i = v ? v.messages.findIndex((m) => m.id === messageId) : -1;
    if (v && i >= 0) {
      v.messages = v.messages.map((m, j) => (j === i ? next(m) : m));
    }
    this.reads.changed(channelId, i >= 0);
    this.changed();
  }

  private addChannel(c: Channel, opts: { quiet?: boolean } = {}): void {
    this.channels.set(c.id, c);
    if (this.isMember(c)) {
      this.rt.subscribe(c.id);
      if (this.channelsLoaded) this.ensurePeople(c.memberIds);
    }
    if (!opts.quiet) this.changed();
  }

  /** Someone joined, was added or left: new member list, names looked up as needed. */
  /** A channel's member list changed (members_changed: the change only, not the whole list). */
  private changeMembers({ channelId, added, removed }: { channelId: string; added: string[]; removed: string[] }): void {
    const c = this.channels.get(channelId);
    if (!c) return;
    const gone = new Set(removed);
    const memberIds = [...c.memberIds.filter((id) => !gone.has(id)), ...added.filter((id) => !c.memberIds.includes(id))];
    this.channels.set(channelId, { ...c, memberIds });
    this.ensurePeople(added);
    this.changed();
  }

  private removeChannel(channelId: string): void {
    const c = this.channels.get(channelId);
    if (c?.kind === 'public') this.channels.set(channelId, { ...c, memberIds: c.memberIds.filter((id) => id !== this.me.id) });
    else this.channels.delete(channelId);
    this.views.delete(channelId);
    this.reads.forget(channelId);
    if (this.activeId === channelId) this.activeId = null;
    this.changed();
  }

  private onMessage(message: Message): void {
    const added = this.merge(message.channelId, [message]);
    if (!added) return;
    this.ensurePeople([message.senderId]);
    const typing = this.typing.get(message.channelId);
    typing?.delete(message.senderId);
    // Sending moves the sender's cursor to the message (READ1).
    if (message.senderId === this.me.id) this.reads.moveTo(message.channelId, message.seq);
    else {
      // Being read right now (open, at the bottom, window focused): it is never counted unread.
      if (this.activeId === message.channelId) this.maybeMarkRead();
      if (this.activeId === message.channelId) this.announcement = `${this.personName(message.senderId)}: ${message.body}`;
    }
    this.changed();
  }

  /** Inserts messages in seq order, skipping ids already held. Returns how many were new. */
  private merge(channelId: string, incoming: Message[]): number {
    const v = this.view(channelId);
    const have = new Set(v.messages.map((m) => m.id));
    const fresh = incoming.filter((m) => !have.has(m.id));
    if (fresh.length === 0) return 0;
    v.messages = [...v.messages, ...fresh].sort((a, b) => a.seq - b.seq);
    return fresh.length;
  }

  private expireTyping(): void {
    const now = Date.now();
    let changed = false;
    for (const m of this.typing.values())
      for (const [userId, until] of m)
        if (until <= now) {
          m.delete(userId);
          changed = true;
        }
    if (changed) this.changed();
  }

  private changed(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }
}
