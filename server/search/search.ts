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

/**
 * Matching messages the user may read now, newest first (by id: ids grow in commit order).
 * Snippets are made for the returned page only. The channel, when given, must already have
 * been checked with channelPolicy.read: this only narrows the search.
 */
export async function searchMessages(ctx: { pool: pg.Pool; db: Db }, input: SearchInput): Promise<SearchResult[]> {
  const { rows } = await ctx.pool.query<MessageRow & { headline: string }>(
    `WITH q AS (SELECT websearch_to_tsquery('simple', $2) AS query),
     page AS (
       SELECT m.* FROM messages m JOIN channels c ON c.id = m.channel_id, q
        WHERE to_tsvector('simple'::regconfig, m.body) @@ q.query
          AND m.deleted_at IS NULL
          AND (c.kind = 'public'
               OR EXISTS (SELECT 1 FROM channel_members cm WHERE cm.channel_id = m.channel_id AND cm.user_id = $1))
          AND ($3::uuid IS NULL OR m.channel_id = $3::uuid)
          AND ($4::bigint IS NULL OR m.id < $4::bigint)
        ORDER BY m.id DESC
        LIMIT $5)
     SELECT ${COLUMNS},
            ts_headline('simple', translate(m.body, $6, $7), q.query, $8) AS headline
       FROM page m, q
      ORDER BY m.id DESC`,
    [input.userId, input.q, input.channelId ?? null, input.before ?? null, input.limit, BODY_FROM, BODY_TO, HEADLINE_OPTIONS],
  );
  const channels = await loadChannels(
    ctx.db,
    rows.map((r) => r.channel_id),
  );
  return rows.map((r) => ({ message: presentMessage(r), channel: channels.get(r.channel_id)!, snippet: toSegments(r.headline) }));
}
