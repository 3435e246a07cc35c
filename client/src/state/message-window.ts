/**
 * Opening a conversation at one message (a search result): the history around its seq, shown
 * in place of the conversation's live view until the two meet.
 *
 * Guarantees:
 * - The live view (chat-store.ts) is never given a hole: the window keeps its own messages,
 *   and hands them to the live view (adoptHistory) only once they reach it: a page that
 *   overlaps the live view's oldest message, or the end of the history. The live view was
 *   loaded before the window's first page, so everything after that page is in it.
 * - Nothing here moves the read cursor: while the window is shown the conversation is not at
 *   its newest message (MessageList tells the store so), and the live view's unread counts go
 *   on from the live stream as before.
 *
 * @example
 * store.jumps.open(result.channel.id, result.message);   // then navigate to the channel
 * const win = useJump(store, channelId);                  // in the message list
 */
import { useSyncExternalStore } from 'react';
import type { Message } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { describeError } from '../api/http.js';
import type { ChatStore } from './chat-store.js';

/** Messages fetched on each side of the target at first, and per page after. */
const AROUND = 25;
const PAGE = 50;

export interface JumpTarget {
  id: string;
  seq: number;
}

export class MessageWindow {
  messages: Message[] = [];
  hasOlder = true;
  hasNewer = true;
  loading = true;
  loadingOlder = false;
  loadingNewer = false;
  error: string | null = null;
  /** The window met the live view and was handed to it: the conversation shows the live view now. */
  joined = false;
  /** The list has scrolled the target into view (once). */
  scrolled = false;
  private disposed = false;
  private readonly offs: Array<() => void> = [];

  constructor(
    private readonly store: ChatStore,
    readonly channelId: string,
    readonly target: JumpTarget,
    private readonly notify: () => void,
  ) {
    // Edits and deletions of messages in the window, until it joins the live view (which has its own).
    this.offs.push(
      store.rt.on('message_updated', ({ message }) => this.replace(message.id, () => message)),
      store.rt.on('message_deleted', ({ messageId }) => this.replace(messageId, (m) => ({ ...m, body: '', mentions: [], deletedAt: m.deletedAt ?? new Date().toISOString() }))),
    );
  }

  /** Waits for the live view, then loads the history around the target (or finds it already held). */
  async open(): Promise<void> {
    await this.store.ensureLoaded(this.channelId);
    await this.liveViewSettled();
    if (this.disposed) return;
    const live = this.store.view(this.channelId);
    if (live.loaded && live.messages.some((m) => m.id === this.target.id)) return this.finish(() => (this.joined = true));
    try {
      const [older, newer] = await Promise.all([
        api.messages(this.channelId, { beforeSeq: this.target.seq + 1, limit: AROUND }),
        api.messages(this.channelId, { afterSeq: this.target.seq, limit: AROUND }),
      ]);
      if (this.disposed) return;
      this.messages = [...older, ...newer];
      this.hasOlder = older.length === AROUND;
      this.hasNewer = newer.length === AROUND;
      this.store.ensurePeople(this.messages.map((m) => m.senderId));
      this.finish(() => this.tryJoin());
    } catch (err) {
      this.finish(() => (this.error = describeError(err)));
    }
  }

  async loadOlder(): Promise<void> {
    if (this.joined || this.loading || this.loadingOlder || !this.hasOlder || !this.messages[0]) return;
    this.loadingOlder = true;
    this.notify();
    try {
      const page = await api.messages(this.channelId, { beforeSeq: this.messages[0].seq, limit: PAGE });
      if (this.disposed) return;
      this.messages = [...page, ...this.messages];
      this.hasOlder = page.length === PAGE;
      this.store.ensurePeople(page.map((m) => m.senderId));
    } catch (err) {
      this.error = describeError(err);
    } finally {
      this.loadingOlder = false;
      this.notify();
    }
  }

  /** The next page towards the present; the window joins the live view once it reaches it. */
  async loadNewer(): Promise<void> {
    const last = this.messages.at(-1);
    if (this.joined || this.loading || this.loadingNewer || !this.hasNewer || !last) return;
    this.loadingNewer = true;
    this.notify();
    try {
      const page = await api.messages(this.channelId, { afterSeq: last.seq, limit: PAGE });
      if (this.disposed) return;
      this.messages = [...this.messages, ...page];
      this.hasNewer = page.length === PAGE;
      this.store.ensurePeople(page.map((m) => m.senderId));
      this.tryJoin();
    } catch (err) {
      this.error = describeError(err);
    } finally {
      this.loadingNewer = false;
      this.notify();
    }
  }

  dispose(): void {
    this.disposed = true;
    for (const off of this.offs.splice(0)) off();
  }

  /** Hands the window to the live view when they meet (see the guarantees above). */
  private tryJoin(): void {
    const live = this.store.view(this.channelId);
    if (!live.loaded) return;
    const liveOldest = live.messages[0]?.seq;
    const last = this.messages.at(-1)?.seq ?? 0;
    if (this.hasNewer && liveOldest !== undefined && last < liveOldest) return;
    this.joined = true;
    this.store.adoptHistory(this.channelId, this.messages, this.hasOlder);
    this.dispose();
  }

  private finish(step: () => void): void {
    if (this.disposed) return;
    step();
    this.loading = false;
    this.notify();
  }

  private replace(messageId: string, next: (m: Message) => Message): void {
    const i = this.messages.findIndex((m) => m.id === messageId);
    if (i < 0) return;
    this.messages = this.messages.map((m, j) => (j === i ? next(m) : m));
    this.notify();
  }

  /** The live view has finished its first load (or failed it). */
  private liveViewSettled(): Promise<void> {
    const done = () => {
      const v = this.store.view(this.channelId);
      return this.disposed || v.loaded || (!v.loading && !!v.error);
    };
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.store.subscribe(() => {
        if (!done()) return;
        off();
        resolve();
      });
    });
  }
}

/**
 * The window being shown, at most one. A conversation holds it while its message list is on
 * screen; released by every holder, it is dropped (a remount in the same tick keeps it).
 */
export class Jumps {
  private current: MessageWindow | null = null;
  private holders = 0;
  private version = 0;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly store: ChatStore) {}

  /** Opens `channelId` at `target`: call before navigating to the channel. */
  open(channelId: string, target: JumpTarget): MessageWindow {
    this.current?.dispose();
    const win = new MessageWindow(this.store, channelId, target, () => this.changed());
    this.current = win;
    this.holders = 0;
    void win.open();
    this.changed();
    return win;
  }

  /** The window of this channel, if one is open. */
  of(channelId: string): MessageWindow | null {
    return this.current?.channelId === channelId ? this.current : null;
  }

  /** The conversation's list is showing; returns the release. */
  hold(channelId: string): () => void {
    const win = this.of(channelId);
    if (!win) return () => {};
    this.holders++;
    return () => {
      this.holders--;
      setTimeout(() => {
        if (this.current === win && this.holders <= 0) this.close();
      }, 0);
    };
  }

  /** Back to the live view (also "Jump to newest"). */
  close(): void {
    if (!this.current) return;
    this.current.dispose();
    this.current = null;
    this.changed();
  }

  dispose(): void {
    this.current?.dispose();
    this.current = null;
    this.listeners.clear();
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getVersion = (): number => this.version;

  private changed(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }
}

/** The channel's open window (re-renders on its changes). */
export function useJump(store: ChatStore, channelId: string): MessageWindow | null {
  useSyncExternalStore(store.jumps.subscribe, store.jumps.getVersion);
  return store.jumps.of(channelId);
}
