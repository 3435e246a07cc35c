/**
 * Message storage and the channel stream read from it.
 *
 * Guarantees:
 * - `storeMessage` is one statement: the message is durable before any ack or fan-out.
 * - (sender, clientMsgId) is unique: a retry returns the first message, never a second row.
 * - SEQ1: every stored event takes its channel's next seq (`channels.last_seq + 1`) in the same
 *   statement. The UPDATE holds the channel row's lock until commit, so seqs are given in commit
 *   order, from 1, by exactly one: a statement that fails (a concurrent retry of the same
 *   clientMsgId hits the unique key) rolls its seq back with it, so no seq is skipped.
 * - Within a channel, ids also grow in commit order (the same lock), so v1's `since` (an id)
 *   never skips a message either.
 * - Only members can store into a channel (checked in the same statement).
 */
import type pg from 'pg';
import type { Message } from '../../shared/api.js';
import { LIMITS } from '../../shared/codes.js';

export interface MessageRow {
  id: string;
  channel_id: string;
  seq: string;
  sender_id: string;
  client_msg_id: string;
  body: string;
  mentions: string[];
  created_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
}

/** A message's columns, as presentMessage reads them (`m` is the messages table's alias). */
export const COLUMNS =
  'm.id::text AS id, m.channel_id, m.seq, m.sender_id, m.client_msg_id, m.body, m.mentions::text[] AS mentions, m.created_at, m.edited_at, m.deleted_at';
/**
 * Order by the bigint columns, never by a bare `id`: Postgres resolves a bare ORDER BY name to the
 * output column first, which is the text `id` of COLUMNS and sorts "1025" before "626".
 */
const BY_SEQ = 'm.seq';

export function presentMessage(r: MessageRow): Message {
  return {
    id: r.id,
    channelId: r.channel_id,
    seq: Number(r.seq),
    senderId: r.sender_id,
    clientMsgId: r.client_msg_id,
    body: r.body,
    mentions: r.mentions,
    createdAt: r.created_at.toISOString(),
    editedAt: r.edited_at?.toISOString() ?? null,
    deletedAt: r.deleted_at?.toISOString() ?? null,
  };
}

/**
 * The names a body mentions: `@name`, the longest run of username characters, a trailing `.`
 * not included, lower-cased. Which of them are members is decided in SQL (MENTIONED_IDS), in
 * the statement that stores the body.
 */
export function mentionedNames(body: string): string[] {
  const names = new Set<string>();
  for (const [, raw] of body.matchAll(/@([A-Za-z0-9_.-]+)/g)) {
    const name = raw.replace(/\.+$/, '').toLowerCase();
    if (name.length >= LIMITS.usernameMin && name.length <= LIMITS.usernameMax) names.add(name);
  }
  return [...names];
}

/** SQL: the ids of channel $1's members whose usernames are in the text[] parameter `names`. */
export function mentionedIds(names: string): string {
  return `CASE WHEN cardinality(${names}::text[]) = 0 THEN '{}'::uuid[] ELSE ARRAY(
            SELECT u.id FROM users u JOIN channel_members cm ON cm.user_id = u.id AND cm.channel_id = $1::uuid
             WHERE u.username = ANY(${names}::text[])) END`;
}

/**
 * One round trip: a retry finds its message (`existing`); otherwise the channel's seq is bumped
 * (only for a member) and the message inserted with it. Two retries racing past `existing`
 * serialize on the channel row; the second's INSERT then violates the (sender, clientMsgId) key
 * and the whole statement, its seq included, rolls back (see storeMessage).
 */
const INSERT = {
  name: 'relay_store_message',
  text: `WITH existing AS (
           SELECT ${COLUMNS} FROM messages m WHERE m.sender_id = $2::uuid AND m.client_msg_id = $3
         ), bump AS (
           UPDATE channels SET last_seq = last_seq + 1
            WHERE id = $1::uuid AND NOT EXISTS (SELECT 1 FROM existing)
              AND EXISTS (SELECT 1 FROM channel_members WHERE channel_id = $1::uuid AND user_id = $2::uuid)
           RETURNING last_seq
         ), m AS (
           INSERT INTO messages (channel_id, seq, sender_id, client_msg_id, body, mentions)
           SELECT $1::uuid, last_seq, $2::uuid, $3, $4, ${mentionedIds('$5')} FROM bump
           RETURNING *
         ), inserted AS (
           SELECT ${COLUMNS} FROM m
         ), sender_read AS (
           -- READ1: sending moves the sender's read cursor to their message.
           UPDATE channel_members SET read_seq = m.seq FROM m
            WHERE channel_members.channel_id = $1::uuid AND channel_members.user_id = $2::uuid AND channel_members.read_seq < m.seq
         )
         SELECT false AS duplicate, * FROM inserted
         UNION ALL
         SELECT true AS duplicate, * FROM existing`,
};
const EXISTING = {
  name: 'relay_existing_message',
  text: `SELECT true AS duplicate, ${COLUMNS} FROM messages m WHERE m.sender_id = $1::uuid AND m.client_msg_id = $2`,
};

export type StoreResult =
  | { ok: true; message: Message; duplicate: boolean }
  | { ok: false; reason: 'forbidden' | 'client_msg_id_reused' };

/** Stores a message (or finds the one already stored for this clientMsgId). */
export async function storeMessage(
  pool: pg.Pool,
  input: { channelId: string; senderId: string; clientMsgId: string; body: string },
): Promise<StoreResult> {
  type Row = MessageRow & { duplicate: boolean };
  const stored = await pool
    .query<Row>({ ...INSERT, values: [input.channelId, input.senderId, input.clientMsgId, input.body, mentionedNames(input.body)] })
    .catch(async (err: Error & { code?: string; constraint?: string }) => {
      // A concurrent retry of the same clientMsgId committed first (see INSERT): read its message.
      if (err.code === '23505' && err.constraint === 'messages_sender_client_msg_id_key') {
        return pool.query<Row>({ ...EXISTING, values: [input.senderId, input.clientMsgId] });
      }
      throw err;
    });
  const previous = stored.rows[0];
  if (previous && !previous.duplicate) return { ok: true, message: presentMessage(previous), duplicate: false };
  // A retry is the same clientMsgId to the same channel; the id reused elsewhere is a client bug,
  // never an ack for a message in a channel the frame did not name.
  if (previous && previous.channel_id === input.channelId) return { ok: true, message: presentMessage(previous), duplicate: true };
  if (previous) return { ok: false, reason: 'client_msg_id_reused' };
  return { ok: false, reason: 'forbidden' };
}

/** One event of a channel's stream (SEQ1): a message's creation, edit or deletion. */
export interface StreamRecord {
  kind: 'message' | 'edit' | 'delete';
  seq: number;
  /** The message in its current state (a deleted one is its tombstone, body ""). */
  message: Message;
}

/**
 * The channel's events after `afterSeq`, in seq order, at most `limit` (SEQ4, SEQ5): what a
 * replay sends and what repairs a gap. Each carries its message as it is now, so a message
 * deleted since is never replayed with its erased body.
 */
export async function eventsAfter(pool: pg.Pool, channelId: string, afterSeq: number, limit: number): Promise<StreamRecord[]> {
  const { rows } = await pool.query<MessageRow & { kind: StreamRecord['kind']; event_seq: string }>({
    name: 'relay_events_after',
    text: `SELECT * FROM (
             SELECT 'message' AS kind, m.seq AS event_seq, ${COLUMNS} FROM messages m WHERE m.channel_id = $1::uuid AND m.seq > $2::bigint
             UNION ALL
             SELECT c.kind, c.seq AS event_seq, ${COLUMNS} FROM message_changes c JOIN messages m ON m.id = c.message_id
              WHERE c.channel_id = $1::uuid AND c.seq > $2::bigint
           ) e ORDER BY e.event_seq ASC LIMIT $3`,
    values: [channelId, afterSeq, limit],
  });
  return rows.map((r) => ({ kind: r.kind, seq: Number(r.event_seq), message: presentMessage(r) }));
}

/** The latest seq of each channel (0 for one with no events; absent for a missing channel). */
export async function lastSeqs(pool: pg.Pool, channelIds: string[]): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ id: string; last_seq: string }>({
    name: 'relay_last_seqs',
    text: 'SELECT id, last_seq FROM channels WHERE id = ANY($1::uuid[])',
    values: [channelIds],
  });
  return new Map(rows.map((r) => [r.id, Number(r.last_seq)]));
}

/** A page of history, oldest first: before/after an id or a seq, or the latest. */
export async function messageHistory(
  pool: pg.Pool,
  channelId: string,
  page: { before?: string; after?: string; beforeSeq?: number; afterSeq?: number; limit: number },
): Promise<Message[]> {
  const conds = ['m.channel_id = $1::uuid'];
  const values: unknown[] = [channelId];
  if (page.before) {
    values.push(page.before);
    conds.push(`m.id < $${values.length}::bigint`);
  }
  if (page.after) {
    values.push(page.after);
    conds.push(`m.id > $${values.length}::bigint`);
  }
  if (page.beforeSeq !== undefined) {
    values.push(page.beforeSeq);
    conds.push(`m.seq < $${values.length}::bigint`);
  }
  if (page.afterSeq !== undefined) {
    values.push(page.afterSeq);
    conds.push(`m.seq > $${values.length}::bigint`);
  }
  values.push(page.limit);
  // With only a lower bound, read forward from it; otherwise read the newest first, then flip.
  const lower = page.after !== undefined || page.afterSeq !== undefined;
  const upper = page.before !== undefined || page.beforeSeq !== undefined;
  const forward = lower && !upper;
  const { rows } = await pool.query<MessageRow>(
    `SELECT ${COLUMNS} FROM messages m WHERE ${conds.join(' AND ')} ORDER BY ${BY_SEQ} ${forward ? 'ASC' : 'DESC'} LIMIT $${values.length}`,
    values,
  );
  if (!forward) rows.reverse();
  return rows.map(presentMessage);
}
