/**
 * Message search (CONTRACT "Search covers…"): Postgres full-text search over the bodies of
 * messages not deleted, in the caller's channels and in public channels, newest first.
 *
 * Guarantees: who may read is decided in the same statement that finds the rows (member now,
 * or a public channel: channelPolicy.read's rule, spelled in SQL so a page never holds rows the
 * caller may not see); a deleted message is never found, nor its snippet made, because its
 * body is '' and the statement requires deleted_at IS NULL as well.
 *
 * Text search configuration 'simple' (lower-casing only, no stemming, no stop words): people
 * write in any language, and 'english' would stem Spanish words into nonsense and drop "it" or
 * "who" from a query; the price is that "run" does not find "running". The expression matches
 * the GIN index messages_body_search_idx (db/schema.ts) exactly, or the planner cannot use it.
 */
import type pg from 'pg';
import type { SearchResult } from '../../shared/api.js';
import type { Db } from '../db/client.js';
import { loadChannels } from '../messaging/channels.js';
import { COLUMNS, presentMessage, type MessageRow } from '../messaging/messages.js';
import { BODY_FROM, BODY_TO, HEADLINE_OPTIONS, toSegments } from './snippet.js';

export interface SearchInput {
  userId: string;
  q: string;
  channelId?: string;
  before?: string;
  limit: number;
}

/** Phase 1 reads at most this many of the newest messages (before `before`) one by one. */
const RECENT_WINDOW = 5_000;

/** One page of matches with ids in [lower, upper), newest first, with their headlines. */
const FIND = `
  WITH q AS (SELECT websearch_to_tsquery('simple', $2) AS query),
  page AS (
    SELECT m.* FROM messages m JOIN channels c ON c.id = m.channel_id, q
     WHERE to_tsvector('simple'::regconfig, m.body) @@ q.query
       AND m.deleted_at IS NULL
       AND (c.kind = 'public'
            OR EXISTS (SELECT 1 FROM channel_members cm WHERE cm.channel_id = m.channel_id AND cm.user_id = $1))
       AND ($3::uuid IS NULL OR m.channel_id = $3::uuid)
       AND m.id < $4::bigint
       AND ($5::bigint IS NULL OR m.id >= $5::bigint)
     ORDER BY m.id DESC
     LIMIT $6)
  SELECT ${COLUMNS},
         ts_headline('simple', translate(m.body, $7, $8), q.query, $9) AS headline
    FROM page m, q
   ORDER BY m.id DESC`;

type Row = MessageRow & { headline: string };

/**
 * Matching messages the user may read now, newest first (by id: ids grow in commit order).
 * Snippets are made for the returned page only. The channel, when given, must already have
 * been checked with channelPolicy.read: this only narrows the search.
 *
 * Two phases, because Postgres cannot estimate how often a word occurs (it assumes 0.5 % of
 * rows for any word) and so picks one plan for all: walking the primary key backwards, which
 * finds a common word at once but reads the whole table for a word nobody wrote (4.8 s at a
 * million messages), or the GIN index, which finds a rare word at once but fetches every row of
 * a common one (0.4 s for "the"). So: phase 1 walks only the newest RECENT_WINDOW messages (bitmap
 * scans off: a bounded cost whatever the word); when that does not fill the page, phase 2 takes
 * the rest from the GIN index (plain index scans off), where a word is rare by now.
 */
export async function searchMessages(ctx: { pool: pg.Pool; db: Db }, input: SearchInput): Promise<SearchResult[]> {
  const client = await ctx.pool.connect();
  let rows: Row[];
  try {
    await client.query('BEGIN READ ONLY');
    const upper =
      input.before ?? (await client.query<{ top: string }>('SELECT (coalesce(max(id), 0) + 1)::text AS top FROM messages')).rows[0].top;
    const lower = BigInt(upper) - BigInt(RECENT_WINDOW);
    const find = (from: bigint | null, to: string, limit: number) =>
      client.query<Row>(FIND, [input.userId, input.q, input.channelId ?? null, to, from?.toString() ?? null, limit, BODY_FROM, BODY_TO, HEADLINE_OPTIONS]);
    await client.query('SET LOCAL enable_bitmapscan = off');
    rows = (await find(lower, upper, input.limit)).rows;
    if (rows.length < input.limit && lower > 0n) {
      await client.query('SET LOCAL enable_bitmapscan = on');
      await client.query('SET LOCAL enable_indexscan = off');
      rows = rows.concat((await find(null, lower.toString(), input.limit - rows.length)).rows);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
  const channels = await loadChannels(
    ctx.db,
    rows.map((r) => r.channel_id),
  );
  return rows.map((r) => ({ message: presentMessage(r), channel: channels.get(r.channel_id)!, snippet: toSegments(r.headline) }));
}
