/**
 * Edits and deletions: events of the channel's stream with seqs of their own (SEQ1, EDIT1–EDIT3).
 *
 * Guarantees:
 * - Each is one statement. The message's row is locked first (FOR UPDATE), then the channel's,
 *   the order every writer takes, so the checks see the message as it is now (a concurrent
 *   delete is waited for, never raced) and a refused change takes no seq: no gap.
 * - Only the sender edits; the sender or an admin deletes. A deleted message keeps its place
 *   and seq and loses its body and mentions; an admin's deletion of someone else's message is
 *   audited in the same statement (action `message.delete`).
 * - Refusals tell `forbidden` (someone else's) from `not_found` (no such message in that
 *   channel, or one already deleted), and change nothing.
 */
import type pg from 'pg';
import { COLUMNS, mentionedIds, mentionedNames, presentMessage, type MessageRow, type StreamRecord } from './messages.js';

export type ChangeResult = { ok: true; record: StreamRecord } | { ok: false; reason: 'forbidden' | 'not_found' };

type Row = MessageRow & { outcome: 'ok' | 'forbidden' | 'not_found'; event_seq: string | null };

/** $1 channel, $2 message id, $3 actor; the message's row locked, then the channel's seq. */
const TARGET = `target AS (
           SELECT id, sender_id, deleted_at FROM messages WHERE id = $2::bigint AND channel_id = $1::uuid FOR UPDATE
         )`;

function outcomeOf(rows: Row[]): ChangeResult {
  const row = rows[0];
  if (!row || row.outcome === 'not_found') return { ok: false, reason: 'not_found' };
  if (row.outcome !== 'ok') return { ok: false, reason: 'forbidden' };
  return { ok: true, record: { kind: 'edit', seq: Number(row.event_seq), message: presentMessage(row) } };
}

const EDIT = {
  name: 'relay_edit_message',
  text: `WITH ${TARGET}, allowed AS (
           SELECT 1 FROM target WHERE sender_id = $3::uuid AND deleted_at IS NULL
             AND EXISTS (SELECT 1 FROM channel_members WHERE channel_id = $1::uuid AND user_id = $3::uuid)
         ), bump AS (
           UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1::uuid AND EXISTS (SELECT 1 FROM allowed) RETURNING last_seq
         ), m AS (
           UPDATE messages SET body = $4, edited_at = now(), mentions = ${mentionedIds('$5')}
             FROM bump WHERE messages.id = $2::bigint RETURNING messages.*, bump.last_seq AS event_seq
         ), change AS (
           INSERT INTO message_changes (channel_id, seq, message_id, kind) SELECT $1::uuid, event_seq, id, 'edit' FROM m
         )
         SELECT 'ok' AS outcome, m.event_seq, ${COLUMNS} FROM m
         UNION ALL
         SELECT CASE WHEN deleted_at IS NOT NULL THEN 'not_found' ELSE 'forbidden' END, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
           FROM target WHERE NOT EXISTS (SELECT 1 FROM allowed)`,
};

const DELETE = {
  name: 'relay_delete_message',
  text: `WITH ${TARGET}, actor AS (
           SELECT role = 'admin' AS admin FROM users WHERE id = $3::uuid
         ), allowed AS (
           SELECT 1 FROM target WHERE deleted_at IS NULL AND (
             (sender_id = $3::uuid AND EXISTS (SELECT 1 FROM channel_members WHERE channel_id = $1::uuid AND user_id = $3::uuid))
             OR EXISTS (SELECT 1 FROM actor WHERE admin))
         ), bump AS (
           UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1::uuid AND EXISTS (SELECT 1 FROM allowed) RETURNING last_seq
         ), m AS (
           UPDATE messages SET body = '', mentions = '{}', deleted_at = now()
             FROM bump WHERE messages.id = $2::bigint RETURNING messages.*, bump.last_seq AS event_seq
         ), change AS (
           INSERT INTO message_changes (channel_id, seq, message_id, kind) SELECT $1::uuid, event_seq, id, 'delete' FROM m
         ), audit AS (
           INSERT INTO audit_events (actor_id, action, target_type, target_id, ip, details)
           SELECT $3::uuid, 'message.delete', 'message', id::text, $4, jsonb_build_object('channelId', $1::text, 'senderId', sender_id)
             FROM m WHERE sender_id <> $3::uuid
         )
         SELECT 'ok' AS outcome, m.event_seq, ${COLUMNS} FROM m
         UNION ALL
         SELECT CASE WHEN deleted_at IS NOT NULL THEN 'not_found' ELSE 'forbidden' END, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
           FROM target WHERE NOT EXISTS (SELECT 1 FROM allowed)`,
};

/** Not a uuid channel id, or an id past bigint: no such message. */
function malformed(err: Error & { code?: string }): ChangeResult {
  if (err.code === '22P02' || err.code === '22003') return { ok: false, reason: 'not_found' };
  throw err;
}

export async function editMessage(
  pool: pg.Pool,
  input: { channelId: string; messageId: string; actorId: string; body: string },
): Promise<ChangeResult> {
  try {
    const { rows } = await pool.query<Row>({ ...EDIT, values: [input.channelId, input.messageId, input.actorId, input.body, mentionedNames(input.body)] });
    return outcomeOf(rows);
  } catch (err) {
    return malformed(err as Error);
  }
}

export async function deleteMessage(
  pool: pg.Pool,
  input: { channelId: string; messageId: string; actorId: string; ip: string | null },
): Promise<ChangeResult> {
  try {
    const { rows } = await pool.query<Row>({ ...DELETE, values: [input.channelId, input.messageId, input.actorId, input.ip] });
    const result = outcomeOf(rows);
    return result.ok ? { ok: true, record: { ...result.record, kind: 'delete' } } : result;
  } catch (err) {
    return malformed(err as Error);
  }
}
