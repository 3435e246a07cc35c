/**
 * What this browser keeps for one signed-in person between page loads: their unsent messages
 * (the realtime outbox) and their per-channel drafts, in IndexedDB through idb-keyval.
 *
 * Every key starts with the user id, so another account signed in on the same browser neither
 * sees nor resends them. Values are checked when read: a record written by another version of
 * the app that does not fit is skipped, never sent. Storage is best effort: without IndexedDB
 * (some private modes) every read finds nothing and every write fails quietly to the caller's log.
 *
 * @example
 * const saved = new UserStorage(me.id);
 * new RealtimeClient({ outboxStorage: saved });
 * const drafts = await saved.loadDrafts();      // Map channelId → text
 * await saved.saveDraft(channelId, 'half a thought');
 */
import { createStore, del, entries, set, type UseStore } from 'idb-keyval';
import { z } from 'zod';
import type { OutboxStorage, SavedSend } from '../realtime/client.js';

type Kind = 'outbox' | 'draft';
type Key = [userId: string, kind: Kind, id: string];

const savedSend = z.object({ clientMsgId: z.string().min(1), channelId: z.string().min(1), body: z.string().min(1), createdAt: z.string() });

let db: UseStore | null = null;
/** One database for every user of this browser; opened on first use, not at import. */
function store(): UseStore {
  return (db ??= createStore('relay', 'saved'));
}

export class UserStorage implements OutboxStorage {
  constructor(private readonly userId: string) {}

  async load(): Promise<SavedSend[]> {
    const out: SavedSend[] = [];
    for (const value of await this.all('outbox')) {
      const parsed = savedSend.safeParse(value);
      if (parsed.success) out.push(parsed.data);
    }
    return out;
  }

  async save(send: SavedSend): Promise<void> {
    await set(this.key('outbox', send.clientMsgId), send, store());
  }

  async remove(clientMsgId: string): Promise<void> {
    await del(this.key('outbox', clientMsgId), store());
  }

  /** Drafts by channel id. */
  async loadDrafts(): Promise<Map<string, string>> {
    const drafts = new Map<string, string>();
    for (const [key, value] of await this.entries('draft')) if (typeof value === 'string' && value) drafts.set(key[2], value);
    return drafts;
  }

  /** An empty draft is removed rather than kept. */
  async saveDraft(channelId: string, text: string): Promise<void> {
    if (text) await set(this.key('draft', channelId), text, store());
    else await del(this.key('draft', channelId), store());
  }

  private key(kind: Kind, id: string): Key {
    return [this.userId, kind, id];
  }

  private async all(kind: Kind): Promise<unknown[]> {
    return (await this.entries(kind)).map(([, value]) => value);
  }

  private async entries(kind: Kind): Promise<Array<[Key, unknown]>> {
    const all = await entries<IDBValidKey, unknown>(store());
    return all.filter((e): e is [Key, unknown] => {
      const k = e[0];
      return Array.isArray(k) && k.length === 3 && k[0] === this.userId && k[1] === kind && typeof k[2] === 'string';
    });
  }
}
