/**
 * Read state (READ1–READ3): each member's read cursor per channel, and the unread and mention
 * counts derived from it.
 *
 * Guarantees:
 * - A cursor only moves forward, and never past the channel's lastSeq (a move beyond is clamped,
 *   one below changes nothing): one UPDATE with GREATEST/LEAST, so two moves at once from two
 *   devices or instances end at the larger one, whatever their order.
 * - `unread` counts messages after the cursor sent by others and not deleted; `mentions` the
 *   ones among them that mention the reader. Both are read in one query for all of a user's
 *   channels, each an index range scan on messages(channel_id, seq) from the cursor: its cost is
 *   the unread messages, not the channel's history (500 channels × 100k messages with a few
 *   unread each is a few thousand index entries).
 */
import type pg from 'pg';

export interface ReadState {
  readSeq: number;
  unread: number;
  mentions: number;
}

const COUNTS = `(SELECT count(*)::int FROM messages m
                  WHERE m.channel_id = cm.channel_id AND m.seq > cm.read_seq AND m.sender_id <> cm.user_id AND m.deleted_at IS NULL) AS unread,
                (SELECT count(*)::int FROM messages m
                  WHERE m.channel_id = cm.channel_id AND m.seq > cm.read_seq AND m.sender_id <> cm.user_id AND m.deleted_at IS NULL
                    AND cm.user_id = ANY(m.mentions)) AS mentions`;

/**
 * Moves `userId`'s cursor in the channel to `seq` (forward only, clamped); returns the state
 * after, whether it moved, and the channel's kind and members' ids (for read receipts), or null
 * for a non-member.
 */
export async function moveReadCursor(
  pool: pg.Pool,
  input: { channelId: string; userId: string; seq: number },
): Promise<{ state: ReadState; moved: boolean; direct: boolean; memberIds: string[] } | null> {
  const { rows } = await pool.query<{ read_seq: string; before: string; kind: string; member_ids: string[]; unread: number; mentions: number }>({
    name: 'relay_move_read_cursor',
    text: `WITH before AS (
             SELECT read_seq FROM channel_members WHERE channel_id = $1::uuid AND user_id = $2::uuid FOR UPDATE
           ), moved AS (
             UPDATE channel_members cm SET read_seq = GREATEST(cm.read_seq, LEAST($3::bigint, c.last_seq))
               FROM channels c WHERE c.id = cm.channel_id AND cm.channel_id = $1::uuid AND cm.user_id = $2::uuid
             RETURNING cm.channel_id, cm.user_id, cm.read_seq, c.kind
           )
           SELECT cm.read_seq, (SELECT read_seq FROM before) AS before, cm.kind,
                  ARRAY(SELECT user_id::text FROM channel_members WHERE channel_id = $1::uuid) AS member_ids,
                  ${COUNTS}
             FROM moved cm`,
    values: [input.channelId, input.userId, input.seq],
  });
  const row = rows[0];
  if (!row) return null;
  return {
    state: { readSeq: Number(row.read_seq), unread: row.unread, mentions: row.mentions },
    moved: Number(row.read_seq) > Number(row.before),
    direct: row.kind === 'direct',
    memberIds: row.member_ids,
  };
}

/** The user's read state in each of their channels, in one query. */
export async function readStates(
  pool: pg.Pool,
  userId: string,
): Promise<Map<string, ReadState & { muted: boolean; peerReadSeq?: number }>> {
  const { rows } = await pool.query<{
    channel_id: string;
    read_seq: string;
    muted: boolean;
    unread: number;
    mentions: number;
    peer_read_seq: string | null;
  }>({
    name: 'relay_read_states',
    // In a direct channel the other member's cursor too: the read receipt a reloaded page shows.
    text: `SELECT cm.channel_id, cm.read_seq, cm.muted, ${COUNTS},
                  (SELECT o.read_seq FROM channels c JOIN channel_members o ON o.channel_id = c.id
                    WHERE c.id = cm.channel_id AND c.kind = 'direct' AND o.user_id <> cm.user_id LIMIT 1) AS peer_read_seq
             FROM channel_members cm WHERE cm.user_id = $1::uuid`,
    values: [userId],
  });
  return new Map(
    rows.map((r) => [
      r.channel_id,
      {
        readSeq: Number(r.read_seq),
        unread: r.unread,
        mentions: r.mentions,
        muted: r.muted,
        ...(r.peer_read_seq !== null ? { peerReadSeq: Number(r.peer_read_seq) } : {}),
      },
    ]),
  );
}

/** The channel's last seq and the member's read cursor (null: not a member). */
export async function position(pool: pg.Pool, channelId: string, userId: string): Promise<{ lastSeq: number; readSeq: number } | null> {
  const { rows } = await pool.query<{ last_seq: string; read_seq: string }>({
    name: 'relay_position',
    text: `SELECT c.last_seq, cm.read_seq FROM channels c JOIN channel_members cm ON cm.channel_id = c.id AND cm.user_id = $2::uuid
            WHERE c.id = $1::uuid`,
    values: [channelId, userId],
  });
  const row = rows[0];
  return row ? { lastSeq: Number(row.last_seq), readSeq: Number(row.read_seq) } : null;
}

/** Mutes or unmutes the channel for the member; false for a non-member. */
export async function setMuted(pool: pg.Pool, channelId: string, userId: string, muted: boolean): Promise<boolean> {
  const { rowCount } = await pool.query('UPDATE channel_members SET muted = $3 WHERE channel_id = $1::uuid AND user_id = $2::uuid', [
    channelId,
    userId,
    muted,
  ]);
  return (rowCount ?? 0) > 0;
}
