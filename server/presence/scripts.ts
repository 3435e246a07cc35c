/**
 * The presence keys in Redis and the Lua scripts that change them (used by redis.ts; the tests
 * run these same definitions against a single Redis and a Redis Cluster).
 *
 * Key layout: every presence key carries the hash tag `{relay:pres}`, so all of them live in one
 * cluster slot. That is what makes the scripts cluster-safe: a script may only touch keys it
 * declares in KEYS, and on a cluster only keys of one slot. A per-user tag (`{u:<id>}`) would
 * spread presence over the shards, but reaping a dead instance must change all of its users
 * atomically (re-checking its lease, exactly one reaper, see REAP), and a user's transition
 * must also update the instance's index for that reaping: both span users, so they would need
 * one slot anyway or lose their atomicity. Presence is light (a script per user's first socket
 * and last socket on an instance, one per subscribe, a few keys per heartbeat), so one slot is
 * one shard's small load; the rest of the app's keys (sessions, rate limits, pub/sub) spread.
 *
 * - `{relay:pres}:u:<user>`, `{relay:pres}:d:<device>`: sets of the instances holding a socket of
 *   that user/device.
 * - `{relay:pres}:inst:<instance>:u|d`: what an instance holds (for reaping it).
 * - `{relay:pres}:alive:<instance>`: its lease (PX, refreshed by its heartbeat).
 * - `{relay:pres}:instances`: the registered instances.
 * - `{relay:pres}:seq`: the last presence seq; `{relay:pres}:last:<user>` the user's last one.
 *
 * Every key a script touches is in its KEYS, built by the caller (REAP's caller reads the dead
 * instance's index first; the script refuses to run on an index that changed since, and the
 * caller reads it again). Scripts are sent once per Redis node: EVALSHA by their SHA-1, and EVAL
 * only when the node answers NOSCRIPT (first use, after a restart or SCRIPT FLUSH), which also
 * caches the script there. Redis 5 or newer: the seq scripts call TIME before writing, which
 * needs script effects replication (the default since 5.0); nothing here needs Redis 7.
 *
 * Rolling deploy from the layout before the hash tag (`relay:pres:u:<user>` etc.): old and new
 * instances keep presence in separate keys while both run. A user whose sockets are all on the
 * other generation looks offline to this one's snapshots and HTTP answers, and a user with
 * sockets on both gets an online (and later an offline) from each generation. Seqs stay
 * comparable (both floor on Redis time), so receivers still order events. Once the old instances
 * are gone their clients have reconnected to new ones, and the new keys are right. The old keys
 * are never read again; `relay:pres:last:*` expire, the rest (`relay:pres:u:*`, `:d:*`, `:seq`)
 * can be deleted by hand (`redis-cli --scan --pattern 'relay:pres:*'` then DEL).
 */
import { createHash } from 'node:crypto';

export const PRESENCE_TAG = '{relay:pres}';
const P = `${PRESENCE_TAG}:`;

export const presenceKeys = {
  user: (id: string) => `${P}u:${id}`,
  device: (id: string) => `${P}d:${id}`,
  index: (instance: string, kind: 'u' | 'd') => `${P}inst:${instance}:${kind}`,
  alive: (instance: string) => `${P}alive:${instance}`,
  instances: `${P}instances`,
  seq: `${P}seq`,
  last: (userId: string) => `${P}last:${userId}`,
};

/**
 * How long Redis keeps a user's last transition seq, read with a presence snapshot: longer than
 * any event is late, and than instances remember seqs (hub.ts).
 */
export const LAST_SEQ_TTL_MS = 10 * 60_000;

/**
 * Lua: the next presence seq, max(last + 1, Redis time in µs): it keeps growing even if the seq
 * key is lost (Redis restarted or flushed) while instances still remember seqs they delivered.
 * It is also kept as the user's last seq, so a snapshot can say which events it already includes.
 */
const NEXT_SEQ = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1] .. string.sub('00000' .. t[2], -6))
end
local function nextSeq(k, lastKey)
  local t = now()
  local s = redis.call('INCR', k)
  if s < t then redis.call('SET', k, t); s = t end
  redis.call('SET', lastKey, s, 'PX', ${LAST_SEQ_TTL_MS})
  return s
end`;

/** A script with its SHA-1, run by `runScript`. */
export interface PresenceScript {
  readonly name: string;
  readonly source: string;
  readonly sha1: string;
}

function script(name: string, source: string): PresenceScript {
  return { name, source, sha1: createHash('sha1').update(source).digest('hex') };
}

/**
 * ADD / REMOVE: KEYS = {the user's or device's set, the instance's index of them, and for users
 * only: the seq key, the user's last seq}; ARGV = {instance, id}. Both return the seq of the
 * transition they made (first instance in / last out), else 0. Devices have no events.
 */
export const ADD = script(
  'add',
  `${NEXT_SEQ}
local c = redis.call('SADD', KEYS[1], ARGV[1]); redis.call('SADD', KEYS[2], ARGV[2])
if c == 1 and KEYS[3] and redis.call('SCARD', KEYS[1]) == 1 then return nextSeq(KEYS[3], KEYS[4]) end
return 0`,
);
export const REMOVE = script(
  'remove',
  `${NEXT_SEQ}
local c = redis.call('SREM', KEYS[1], ARGV[1]); redis.call('SREM', KEYS[2], ARGV[2])
if c == 1 and KEYS[3] and redis.call('SCARD', KEYS[1]) == 0 then return nextSeq(KEYS[3], KEYS[4]) end
return 0`,
);

/**
 * SNAPSHOT: KEYS = {user set, user's last seq} per user. Returns {instances holding the user, the
 * user's last seq or 0} per user, read in one atomic step, so the seq covers every transition
 * the count reflects.
 */
export const SNAPSHOT = script(
  'snapshot',
  `
local out = {}
for i = 1, #KEYS, 2 do
  out[i] = redis.call('SCARD', KEYS[i])
  local last = redis.call('GET', KEYS[i + 1])
  out[i + 1] = last and tonumber(last) or 0
end
return out`,
);

/**
 * REAP: removes an instance from presence atomically; another instance's only once its lease has
 * lapsed (a live one is never half-reaped), and SREM on the instance list makes exactly one
 * survivor the reaper. An instance reaps itself when it stops (ARGV[2] = '1'): no lease check.
 * KEYS = {alive, instances, user index, device index, seq} then {user set, user's last seq} per
 * user of the index, then the device sets. ARGV = {instance, self, user count, user ids...,
 * device ids...}. Returns {1, user, seq, user, seq, ...} for the users it leaves with no
 * instance at all (their offline transitions), {0} when there was nothing to reap, and {-1} when
 * the index holds an id the caller did not pass (it changed since the caller read it).
 */
export const REAP = script(
  'reap',
  `${NEXT_SEQ}
local inst, self, n = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
if not self and redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local users, devices = {}, {}
for i = 1, n do users[ARGV[3 + i]] = true end
for i = 4 + n, #ARGV do devices[ARGV[i]] = true end
for _, u in ipairs(redis.call('SMEMBERS', KEYS[3])) do if not users[u] then return {-1} end end
for _, d in ipairs(redis.call('SMEMBERS', KEYS[4])) do if not devices[d] then return {-1} end end
if redis.call('SREM', KEYS[2], inst) == 0 and not self then return {0} end
local out = {1}
for i = 1, n do
  local set = KEYS[4 + 2 * i]
  if redis.call('SREM', set, inst) == 1 and redis.call('SCARD', set) == 0 then
    table.insert(out, ARGV[3 + i])
    table.insert(out, nextSeq(KEYS[5], KEYS[5 + 2 * i]))
  end
end
for i = 6 + 2 * n, #KEYS do redis.call('SREM', KEYS[i], inst) end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
return out`,
);

/**
 * REAFFIRM, right before a transition is announced (PRES1): KEYS = {user's last seq, seq key}; ARGV = {the transition's seq, the age in µs past which an event could be taken for a
 * reset counter by receivers}. Returns the seq to announce it with, or 0 when it must not go out:
 * - a later transition exists, at least that age newer: the later one's own announcement carries
 *   the state, and this one would look like a counter that went back (hub.ts);
 * - a later transition exists, less newer: the transition's own seq (receivers order them);
 * - none exists, and the transition is at least that old: a fresh seq for the same state, so a
 *   transition decided just after this check cannot be that much newer;
 * - otherwise its own seq.
 */
export const REAFFIRM = script(
  'reaffirm',
  `${NEXT_SEQ}
local seq, age = tonumber(ARGV[1]), tonumber(ARGV[2])
local last = redis.call('GET', KEYS[1])
last = last and tonumber(last)
if last and last ~= seq then
  if last - seq >= age then return 0 end
  return seq
end
if now() - seq >= age then return nextSeq(KEYS[2], KEYS[1]) end
return seq`,
);

export const PRESENCE_SCRIPTS: readonly PresenceScript[] = [ADD, REMOVE, SNAPSHOT, REAP, REAFFIRM];

/** What the scripts need of a Redis connection: a node-redis client or cluster client. */
export interface ScriptRunner {
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/**
 * Runs a script by its SHA-1; sends its text only when the node does not have it yet (NOSCRIPT),
 * which loads it there. On a cluster the command goes to the node of its first key's slot.
 */
export async function runScript(redis: ScriptRunner, s: PresenceScript, keys: string[], args: string[]): Promise<unknown> {
  const options = { keys, arguments: args };
  try {
    return await redis.evalSha(s.sha1, options);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return redis.eval(s.source, options);
  }
}
