/**
 * Message storage.
 *
 * Guarantees:
 * - `storeMessage` is one statement: the message is durable before any ack or fan-out.
 * - (sender, clientMsgId) is unique: a retry returns the first message, never a second row.
 * - Within a channel, ids grow in commit order: each insert holds a per-channel advisory lock
 *   taken before the id is drawn, so a reader replaying `since` an id can never miss a message
 *   that commits later with a smaller id.
 * - Only members can store into a channel (checked in the same statement).
 */
import type pg from 'pg';
import type { Message } from '../../shared/api.js';
import { LIMITS } from '../../shared/codes.js';

interface MessageRow {
  id: string;
  channel_id: string;
  sender_id: string;
  client_msg_id: string;
  body: string;
  created_at: Date;
}

const COLUMNS = 'id::text AS id, channel_id, sender_id, client_msg_id, body, created_at';
/**
 * Order by the bigint column, never by a bare `id`: Postgres resolves a bare ORDER BY name to the
 * output column first, which is the text `id` of COLUMNS and sorts "1025" before "626".
 */
const BY_ID = 'messages.id';

export function presentMessage(r: MessageRow): Message {
  return {
    id: r.id,
    channelId: r.channel_id,
    senderId: r.sender_id,
    clientMsgId: r.client_msg_id,
    body: r.body,
    createdAt: r.created_at.toISOString(),
  };
}

const INSERT = {
  name: 'relay_store_message',
  text: `WITH channel_lock AS (SELECT pg_advisory_xact_lock(hashtextextended($1::text, 727)))
         INSERT INTO messages (channel_id, sender_id, client_msg_id, body)
         SELECT $1::uuid, $2::uuid, $3, $4 FROM channel_lock
         WHERE EXISTS (SELECT 1 FROM channel_members WHERE channel_id = $1::uuid AND user_id = $2::uuid)
         ON CONFLICT (sender_id, client_msg_id) DO NOTHING
         RETURNING ${COLUMNS}`,
};
const EXISTING = {
  name: 'relay_existing_message',
  text: `SELECT ${COLUMNS} FROM messages WHERE sender_id = $1::uuid AND client_msg_id = $2`,
};

export type StoreResult =
  | { ok: true; message: Message; duplicate: boolean }
  | { ok: false; reason: 'forbidden' | 'client_msg_id_reused' };

/** Stores a message (or finds the one already stored for this clientMsgId). */
export async function storeMessage(
  pool: pg.Pool,
  input: { channelId: string; senderId: string; clientMsgId: string; body: string },
): Promise<StoreResult> {
  const inserted = await pool.query<MessageRow>({
    ...INSERT,
    values: [input.channelId, input.senderId, input.clientMsgId, input.body],
  });
  if (inserted.rows[0]) return { ok: true, message: presentMessage(inserted.rows[0]), duplicate: false };
  const existing = await pool.query<MessageRow>({ ...EXISTING, values: [input.senderId, input.clientMsgId] });
  const previous = existing.rows[0];
  // A retry is the same clientMsgId to the same channel; the id reused elsewhere is a client bug,
  // never an ack for a message in a channel the frame did not name.
  if (previous && previous.channel_id === input.channelId) return { ok: true, message: presentMessage(previous), duplicate: true };
  if (previous) return { ok: false, reason: 'client_msg_id_reused' };
  return { ok: false, reason: 'forbidden' };
}

/** Messages after `sinceId`, oldest first, at most LIMITS.replayMax; `truncated` when more exist. */
export async function messagesSince(
  pool: pg.Pool,
  channelId: string,
  sinceId: string,
): Promise<{ messages: Message[]; truncated: boolean }> {
  const { rows } = await pool.query<MessageRow>({
    name: 'relay_messages_since',
    text: `SELECT ${COLUMNS} FROM messages WHERE channel_id = $1::uuid AND id > $2::bigint ORDER BY ${BY_ID} ASC LIMIT $3`,
    values: [channelId, sinceId, LIMITS.replayMax + 1],
  });
  const truncated = rows.length > LIMITS.replayMax;
  return { messages: rows.slice(0, LIMITS.replayMax).map(presentMessage), truncated };
}

/** A page of history, oldest first: before an id, after an id, or the latest. */
export async function messageHistory(
  pool: pg.Pool,
  channelId: string,
  page: { before?: string; after?: string; limit: number },
): Promise<Message[]> {
  const conds = ['channel_id = $1::uuid'];
  const values: unknown[] = [channelId];
  if (page.before) {
    values.push(page.before);
    conds.push(`id < $${values.length}::bigint`);
  }
  if (page.after) {
    values.push(page.after);
    conds.push(`id > $${values.length}::bigint`);
  }
  values.push(page.limit);
  // With only `after`, read forward from it; otherwise read the newest first, then flip.
  const forward = Boolean(page.after && !page.before);
  const { rows } = await pool.query<MessageRow>(
    `SELECT ${COLUMNS} FROM messages WHERE ${conds.join(' AND ')} ORDER BY ${BY_ID} ${forward ? 'ASC' : 'DESC'} LIMIT $${values.length}`,
    values,
  );
  if (!forward) rows.reverse();
  return rows.map(presentMessage);
}
