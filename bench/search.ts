/**
 * Search benchmark (issue 12): `npx tsx bench/search.ts [--messages=1000000] [--queries=200]`.
 *
 * A fresh embedded Postgres in a temporary directory, the real migrations, then N messages made
 * by generate_series in 200 channels (50 public, 150 private) from a word list with a skewed
 * (Zipf-like) choice, so a few words are in most messages and most words in few, as in chat.
 * The search index is dropped for the load and built again afterwards from the migration's own
 * statement (faster than maintaining it row by row; its build time is printed). Then the real
 * searchMessages runs `--queries` times as one user who is a member of 20 private channels,
 * over common, middling and rare words, two-word queries and phrases, and prints p50/p95/max.
 * Not a test; nothing is kept.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { connectDatabase } from '../server/db/client.js';
import { startEmbeddedPostgres } from '../server/db/embedded.js';
import { runMigrations } from '../server/db/migrate.js';
import { searchMessages } from '../server/search/search.js';

const arg = (name: string, fallback: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : fallback;
};
const N = arg('messages', 1_000_000);
const QUERIES = arg('queries', 200);

// Frequent words first: the skewed pick below favours the start of the list.
const WORDS = `the to and a i you it is that of in we for on this be have just can it's not with so but
are do at ok will if yes what lol my get was me thanks think no all about one now up out like
know good see going need time there here how when new today tomorrow meeting call deploy build
test fix bug issue review merge branch release server client database query index error log
please morning lunch coffee weekend monday friday team project plan design doc link update
status ticket sprint demo customer feedback slack email calendar invite room office remote home
train late sorry sure great nice cool awesome agreed done pushed ship rollback incident alert
latency cache redis postgres kubernetes docker node typescript react css api endpoint schema
migration backup restore disk memory cpu network dns certificate login password token session
invoice budget quarterly report board hiring interview offer onboarding laptop vpn printer
birthday cake pizza party holiday vacation flight hotel visa conference talk slides workshop
giraffe zebra pelican walrus octopus flamingo armadillo narwhal axolotl capybara`
  .split(/\s+/)
  .filter(Boolean);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-search-bench-'));
  if (process.getuid?.() === 0) (await import('node:fs')).chmodSync(dir, 0o755);
  const pgdb = await startEmbeddedPostgres({ dataDir: dir, database: 'relay_search_bench' });
  const log = pino({ level: 'silent' });
  const database = connectDatabase(pgdb.url, log, 4);
  const { pool } = database;
  try {
    await runMigrations(pool);
    const indexSql = readFileSync(new URL('../migrations/0006_search_index.sql', import.meta.url), 'utf8');
    await pool.query('DROP INDEX messages_body_search_idx');

    let t0 = process.hrtime.bigint();
    await pool.query(`INSERT INTO users (username, display_name, password_hash)
                      SELECT 'user' || i, 'User ' || i, 'x' FROM generate_series(1, 50) i`);
    await pool.query(`INSERT INTO channels (name, kind)
                      SELECT 'channel-' || i, CASE WHEN i <= 50 THEN 'public' ELSE 'private' END FROM generate_series(1, 200) i`);
    // user1 (the searcher) is in 20 private channels; everyone is in every public one.
    await pool.query(`INSERT INTO channel_members (channel_id, user_id)
                      SELECT c.id, u.id FROM channels c CROSS JOIN users u
                       WHERE c.kind = 'public' OR (u.username = 'user1' AND c.name::text IN (SELECT 'channel-' || g FROM generate_series(51, 70) g))
                          OR (u.username <> 'user1' AND c.kind = 'private')`);
    await pool.query(`CREATE TEMP TABLE bench_words AS SELECT $1::text[] AS w`, [WORDS]);
    const chunk = 100_000;
    for (let start = 0; start < N; start += chunk) {
      const end = Math.min(N, start + chunk);
      await pool.query(
        `WITH ch AS (SELECT array_agg(id ORDER BY name) AS ids FROM channels),
              us AS (SELECT array_agg(id ORDER BY username) AS ids FROM users)
         INSERT INTO messages (channel_id, seq, sender_id, client_msg_id, body, created_at)
         SELECT ch.ids[1 + i % 200], 1 + i / 200, us.ids[1 + i % 50], 'b' || i,
                (SELECT string_agg(w[1 + floor(power(random(), 3) * array_length(w, 1))::int], ' ')
                   FROM bench_words, generate_series(1, 4 + (i % 17)) k WHERE k > 0 AND i >= 0),
                now() - make_interval(secs => ($2 - i))
           FROM generate_series($1::int, $2::int - 1) i, ch, us`,
        [start, end],
      );
      process.stdout.write(`\rloaded ${end.toLocaleString('en')} messages (${(ms(t0) / 1000).toFixed(0)} s)`);
    }
    await pool.query(`UPDATE channels c SET last_seq = (SELECT coalesce(max(seq), 0) FROM messages m WHERE m.channel_id = c.id)`);
    const loadS = ms(t0) / 1000;
    t0 = process.hrtime.bigint();
    await pool.query(`SET maintenance_work_mem = '256MB'`);
    await pool.query(indexSql);
    await pool.query('ANALYZE messages');
    const indexS = ms(t0) / 1000;
    console.log(`\nload: ${loadS.toFixed(1)} s; index build + analyze: ${indexS.toFixed(1)} s`);

    if (process.argv.includes('--keep')) {
      // For looking at plans by hand: psql against this URL until the process is stopped.
      console.log(`kept: ${pgdb.url}`);
      await new Promise(() => {});
    }
    const {
      rows: [searcher],
    } = await pool.query<{ id: string }>(`SELECT id FROM users WHERE username = 'user1'`);
    const kinds: Record<string, string[]> = {
      common: ['meeting', 'deploy', 'today', 'thanks'],
      middling: ['postgres', 'invoice', 'rollback', 'kubernetes'],
      rare: ['capybara', 'axolotl', 'narwhal', 'flamingo'],
      'two words': ['deploy rollback', 'coffee morning', 'budget report', 'zebra pelican'],
      phrase: ['"the meeting"', '"coffee break"', '"server error"', '"pizza party"'],
      absent: ['xylophone', 'quetzalcoatl'],
    };
    const all: number[] = [];
    const byKind: Record<string, number[]> = {};
    const names = Object.keys(kinds);
    // Warm-up (first query pays for plan caching and cold pages).
    for (const q of Object.values(kinds).flat()) await searchMessages(database, { userId: searcher.id, q, limit: 20 });
    for (let i = 0; i < QUERIES; i++) {
      const kind = names[i % names.length];
      const q = kinds[kind][Math.floor(i / names.length) % kinds[kind].length];
      const t = process.hrtime.bigint();
      const results = await searchMessages(database, { userId: searcher.id, q, limit: 20 });
      const took = ms(t);
      all.push(took);
      (byKind[kind] ??= []).push(took);
      if (i < names.length) console.log(`  ${kind.padEnd(9)} ${q.padEnd(18)} ${results.length} results, ${took.toFixed(1)} ms`);
    }
    const show = (label: string, xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      console.log(`${label.padEnd(10)} n=${String(s.length).padStart(3)}  p50 ${pct(s, 50).toFixed(1)} ms  p95 ${pct(s, 95).toFixed(1)} ms  max ${s[s.length - 1].toFixed(1)} ms`);
    };
    console.log(`\n${N.toLocaleString('en')} messages, limit 20, searcher in 50 public + 20 of 150 private channels`);
    for (const k of names) show(k, byKind[k]);
    show('all', all);
  } finally {
    await database.close();
    await pgdb.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
