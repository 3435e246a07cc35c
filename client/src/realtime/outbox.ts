/**
 * The outbox: sends not acknowledged yet, in the order they were made, mirrored into storage
 * (IndexedDB in the browser) so a reload, a closed tab or a browser restart loses none of them.
 *
 * Guarantees:
 * - An entry is in storage from the moment it is queued until it is acknowledged, discarded, or
 *   refused for good (forbidden, invalid): a reload finds exactly the sends still owed.
 * - A restored entry keeps its clientMsgId, so resending one the server already stored gives
 *   the original ack and no second message (MSG2).
 * - Storage is best effort: when it fails (no IndexedDB, quota, private mode) sending goes on
 *   in memory and the failure is logged.
 *
 * @example
 * const outbox = new Outbox(storage, console.warn);
 * await outbox.restore();            // what an earlier page left unsent
 * outbox.add({ clientMsgId, channelId, body, createdAt });
 * outbox.remove(clientMsgId);        // on its ack
 */

export type OutboxStatus = 'pending' | 'failed';

/** What is kept of a send: enough to resend it as the same message. */
export interface SavedSend {
  clientMsgId: string;
  channelId: string;
  body: string;
  /** Local time of the first attempt, for ordering and display. */
  createdAt: string;
}

export interface OutboxEntry extends SavedSend {
  status: OutboxStatus;
  /** Why it failed, for a person. */
  error?: string;
}

/** Where the outbox is kept between pages; one instance per signed-in user. */
export interface OutboxStorage {
  load(): Promise<SavedSend[]>;
  save(send: SavedSend): Promise<void>;
  remove(clientMsgId: string): Promise<void>;
}

/** An entry with the connection bookkeeping of the realtime client. */
export interface OutboxItem extends OutboxEntry {
  /** The connection (client attempt number) it was last written on; 0: not yet. */
  writtenOn: number;
  ackTimer: unknown;
}

export class Outbox {
  private items = new Map<string, OutboxItem>();
  /** Settled on this page: a restore that read storage before their removal must not bring them back. */
  private readonly settled = new Set<string>();

  constructor(
    private readonly storage: OutboxStorage | undefined,
    private readonly log: (message: string, detail?: unknown) => void,
  ) {}

  get size(): number {
    return this.items.size;
  }

  get(clientMsgId: string): OutboxItem | undefined {
    return this.items.get(clientMsgId);
  }

  values(): IterableIterator<OutboxItem> {
    return this.items.values();
  }

  /** The public view, in sending order. */
  list(): OutboxEntry[] {
    return [...this.items.values()].map(publicEntry);
  }

  add(send: SavedSend): OutboxItem {
    const item: OutboxItem = { ...send, status: 'pending', writtenOn: 0, ackTimer: null };
    this.items.set(send.clientMsgId, item);
    this.keep(item);
    return item;
  }

  /** Back to pending for another try; kept again in case a permanent failure had dropped it. */
  requeue(item: OutboxItem): void {
    item.status = 'pending';
    item.error = undefined;
    item.writtenOn = 0;
    this.keep(item);
  }

  /**
   * Marks it failed. A permanent failure (the server will never take it) leaves storage, so a
   * reload does not send it again; a passing one (no answer, rate limited) stays there.
   */
  fail(item: OutboxItem, error: string, permanent: boolean): void {
    item.status = 'failed';
    item.error = error;
    if (permanent) this.forget(item.clientMsgId);
  }

  /** Acknowledged or discarded: gone here and from storage. */
  remove(clientMsgId: string): OutboxItem | undefined {
    const item = this.items.get(clientMsgId);
    this.items.delete(clientMsgId);
    this.settled.add(clientMsgId);
    this.forget(clientMsgId);
    return item;
  }

  /**
   * Adds what storage holds and this outbox does not, as pending, everything in creation order.
   * Resolves to the number added.
   */
  async restore(): Promise<number> {
    if (!this.storage) return 0;
    let saved: SavedSend[];
    try {
      saved = await this.storage.load();
    } catch (err) {
      this.log('could not read the saved outbox', err);
      return 0;
    }
    const fresh = saved.filter((s) => !this.items.has(s.clientMsgId) && !this.settled.has(s.clientMsgId));
    if (fresh.length === 0) return 0;
    const all = [...this.items.values(), ...fresh.map((s): OutboxItem => ({ ...s, status: 'pending', writtenOn: 0, ackTimer: null }))];
    all.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
    this.items = new Map(all.map((i) => [i.clientMsgId, i]));
    return fresh.length;
  }

  private keep(item: OutboxItem): void {
    if (!this.storage) return;
    const send: SavedSend = { clientMsgId: item.clientMsgId, channelId: item.channelId, body: item.body, createdAt: item.createdAt };
    this.storage.save(send).catch((err: unknown) => this.log('could not save an unsent message', err));
  }

  private forget(clientMsgId: string): void {
    this.storage?.remove(clientMsgId).catch((err: unknown) => this.log('could not remove a sent message from storage', err));
  }
}

function publicEntry(e: OutboxItem): OutboxEntry {
  return { clientMsgId: e.clientMsgId, channelId: e.channelId, body: e.body, createdAt: e.createdAt, status: e.status, ...(e.error ? { error: e.error } : {}) };
}
