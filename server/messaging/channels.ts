/**
 * Channels and membership. Every change of membership is announced after it commits: on the
 * affected users' bus topics as a ready-to-send frame (`channel_added` / `channel_removed`), so
 * their sockets on every instance see a new conversation without a reload; and once on the
 * channel's topic as `members_changed {channelId, added, removed}` for its subscribers (MSG7).
 */
import { and, eq, inArray, or, sql } from 'drizzle-orm';
import type { Channel } from '../../shared/api.js';
import type { ServerFrame } from '../../shared/protocol.js';
import { TOPICS } from '../bus/bus.js';
import { encodeEnvelope } from '../bus/channel-envelope.js';
import type { AppContext } from '../context.js';
import type { Db } from '../db/client.js';
import { channelMembers, channels, users } from '../db/schema.js';
import { forbidden, nameTaken, notFound } from '../errors.js';
import { isUuid } from '../devices/devices.js';
import { isUniqueViolation } from '../users/users.js';
import { channelPolicy } from './policy.js';
import { readStates } from './read-state.js';

type ChannelRow = typeof channels.$inferSelect;

export function presentChannel(c: ChannelRow, memberIds: string[]): Channel {
  return { id: c.id, name: c.name, kind: c.kind, memberIds, createdAt: c.createdAt.toISOString(), lastSeq: c.lastSeq };
}

async function membersOf(db: Pick<Db, 'select'>, channelIds: string[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>(channelIds.map((id) => [id, []]));
  if (channelIds.length === 0) return map;
  const rows = await db
    .select({ channelId: channelMembers.channelId, userId: channelMembers.userId })
    .from(channelMembers)
    // One array parameter, not one parameter per id: Postgres takes at most 65,535 parameters.
    .where(sql`${channelMembers.channelId} = ANY(${sql.param(channelIds)}::uuid[])`)
    .orderBy(channelMembers.joinedAt);
  for (const r of rows) map.get(r.channelId)!.push(r.userId);
  return map;
}

export async function loadChannel(db: Pick<Db, 'select'>, id: string): Promise<Channel | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await db.select().from(channels).where(eq(channels.id, id)).limit(1);
  if (!row) return undefined;
  return presentChannel(row, (await membersOf(db, [row.id])).get(row.id)!);
}

/** Several channels by id in two queries (missing ones are left out). */
export async function loadChannels(db: Pick<Db, 'select'>, ids: string[]): Promise<Map<string, Channel>> {
  const valid = [...new Set(ids.filter(isUuid))];
  if (valid.length === 0) return new Map();
  const rows = await db.select().from(channels).where(inArray(channels.id, valid));
  const members = await membersOf(
    db,
    rows.map((r) => r.id),
  );
  return new Map(rows.map((r) => [r.id, presentChannel(r, members.get(r.id)!)]));
}

/**
 * The caller's channels and all public ones; the caller's own carry their read state (READ3):
 * three queries whatever the number of channels (channels, members, read states).
 */
export async function listChannels(ctx: Pick<AppContext, 'db' | 'pool'>, userId: string): Promise<Channel[]> {
  const { db } = ctx;
  const mine = db.select({ id: channelMembers.channelId }).from(channelMembers).where(eq(channelMembers.userId, userId));
  const rows = await db
    .select()
    .from(channels)
    .where(or(eq(channels.kind, 'public'), inArray(channels.id, mine)))
    .orderBy(channels.createdAt);
  const members = await membersOf(
    db,
    rows.map((r) => r.id),
  );
  const mineStates = await readStates(ctx.pool, userId);
  return rows.map((r) => {
    const state = mineStates.get(r.id);
    return state ? { ...presentChannel(r, members.get(r.id)!), ...state } : presentChannel(r, members.get(r.id)!);
  });
}

/** True when the user is a member of the channel. */
export async function isMember(db: Db, channelId: string, userId: string): Promise<boolean> {
  if (!isUuid(channelId)) return false;
  const rows = await db
    .select({ one: sql`1` })
    .from(channelMembers)
    .where(and(eq(channelMembers.channelId, channelId), eq(channelMembers.userId, userId)))
    .limit(1);
  return rows.length > 0;
}

async function assertUsersExist(db: Pick<Db, 'select'>, ids: string[]): Promise<void> {
  const unique = [...new Set(ids)];
  if (unique.some((id) => !isUuid(id))) throw notFound('User');
  if (unique.length === 0) return;
  const rows = await db.select({ id: users.id }).from(users).where(inArray(users.id, unique));
  if (rows.length !== unique.length) throw notFound('User');
}

/**
 * Sends `frame` to every socket of each user, on every instance; `skipConnId` names a socket
 * that already has it (it asked, and got the answer with its ref).
 */
export async function notifyUsers(
  ctx: Pick<AppContext, 'bus' | 'log'>,
  userIds: string[],
  frame: ServerFrame,
  skipConnId?: string,
): Promise<void> {
  const payload = skipConnId ? `${skipConnId}|${JSON.stringify(frame)}` : JSON.stringify(frame);
  await Promise.all(
    [...new Set(userIds)].map((id) =>
      ctx.bus.publish(TOPICS.user(id), payload).catch((err: Error) => ctx.log.warn({ err: err.message }, 'channel event not published')),
    ),
  );
}

export async function createChannel(
  ctx: Pick<AppContext, 'db' | 'bus' | 'log'>,
  input: { name: string; kind: 'public' | 'private'; creatorId: string; memberIds?: string[] },
): Promise<Channel> {
  const memberIds = [...new Set([input.creatorId, ...(input.memberIds ?? [])])];
  const channel = await ctx.db.transaction(async (tx) => {
    await assertUsersExist(tx, memberIds);
    let row: ChannelRow;
    try {
      [row] = await tx.insert(channels).values({ name: input.name, kind: input.kind, createdBy: input.creatorId }).returning();
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken();
      throw err;
    }
    await tx.insert(channelMembers).values(memberIds.map((userId) => ({ channelId: row.id, userId })));
    return presentChannel(row, memberIds);
  });
  await notifyUsers(ctx, memberIds, { type: 'channel_added', channel });
  return channel;
}

/** READ1: a member's cursor starts at the channel's last seq: nothing from before is unread. */
function startingReadSeq(channelId: string) {
  return sql<number>`(SELECT last_seq FROM channels WHERE id = ${channelId}::uuid)`;
}

/**
 * MSG7: one `members_changed` per change, on the channel's topic, for the sockets subscribed to
 * it (member lists, names and presence dots stay current without a reload). Its size is that of
 * the change, not of the channel: v1 sent the whole member list to every member, O(members²)
 * per join. The people who joined or left are told by channel_added / channel_removed instead.
 */
async function announceMembers(
  ctx: Pick<AppContext, 'bus' | 'log'>,
  channelId: string,
  change: { added?: string[]; removed?: string[] },
): Promise<void> {
  const frame: ServerFrame = { type: 'members_changed', channelId, added: change.added ?? [], removed: change.removed ?? [] };
  await ctx.bus
    .publish(TOPICS.channel(channelId), encodeEnvelope('c', '', '', JSON.stringify(frame)))
    .catch((err: Error) => ctx.log.warn({ err: err.message }, 'members_changed not published'));
}

async function addMember(
  ctx: Pick<AppContext, 'db' | 'bus' | 'log'>,
  channelId: string,
  userId: string,
): Promise<Channel> {
  const inserted = await ctx.db
    .insert(channelMembers)
    .values({ channelId, userId, readSeq: startingReadSeq(channelId) })
    .onConflictDoNothing()
    .returning({ userId: channelMembers.userId });
  const channel = (await loadChannel(ctx.db, channelId))!;
  if (inserted.length) {
    await notifyUsers(ctx, [userId], { type: 'channel_added', channel });
    await announceMembers(ctx, channelId, { added: [userId] });
  }
  return channel;
}

export async function joinChannel(ctx: Pick<AppContext, 'db' | 'bus' | 'log'>, channelId: string, userId: string): Promise<Channel> {
  const channel = await loadChannel(ctx.db, channelId);
  if (channel?.memberIds.includes(userId)) return channel;
  // A missing channel answers as a private one: ids cannot be probed for existence (policy.ts).
  const refused = channelPolicy.join(channel);
  if (refused || !channel) throw forbidden(refused ?? '');
  return addMember(ctx, channelId, userId);
}

export async function leaveChannel(ctx: Pick<AppContext, 'db' | 'bus' | 'log'>, channelId: string, userId: string): Promise<void> {
  if (!isUuid(channelId)) throw notFound('Channel');
  const removed = await ctx.db
    .delete(channelMembers)
    .where(and(eq(channelMembers.channelId, channelId), eq(channelMembers.userId, userId)))
    .returning();
  if (removed.length === 0) throw notFound('Channel');
  await notifyUsers(ctx, [userId], { type: 'channel_removed', channelId });
  await announceMembers(ctx, channelId, { removed: [userId] });
}

export async function addMemberBy(
  ctx: Pick<AppContext, 'db' | 'bus' | 'log'>,
  channelId: string,
  actorId: string,
  userId: string,
): Promise<Channel> {
  const channel = await loadChannel(ctx.db, channelId);
  if (!channel) throw notFound('Channel');
  // A non-member adder is 403 whatever the kind (CONTRACT), as the history of a private channel is.
  const refused = channelPolicy.addMember(channel, actorId);
  if (refused) throw forbidden(refused);
  await assertUsersExist(ctx.db, [userId]);
  return addMember(ctx, channelId, userId);
}

/** The one direct channel of a pair, created on first use. */
export async function directChannel(
  ctx: Pick<AppContext, 'db' | 'bus' | 'log'>,
  actorId: string,
  otherId: string,
): Promise<Channel> {
  if (!isUuid(otherId)) throw notFound('User');
  const pair = [actorId, otherId].sort();
  const key = pair.join(':');
  const result = await ctx.db.transaction(async (tx) => {
    const people = await tx.select({ id: users.id, username: users.username }).from(users).where(inArray(users.id, pair));
    if (people.length !== new Set(pair).size) throw notFound('User');
    const name = [...new Set(pair)].map((id) => people.find((p) => p.id === id)!.username).join(', ');
    const created = await tx
      .insert(channels)
      .values({ name, kind: 'direct', directKey: key, createdBy: actorId })
      .onConflictDoNothing({ target: channels.directKey })
      .returning({ id: channels.id });
    const [row] = await tx.select().from(channels).where(eq(channels.directKey, key)).limit(1);
    // Either side may have left earlier: starting the conversation again brings both back.
    const added = await tx
      .insert(channelMembers)
      .values([...new Set(pair)].map((userId) => ({ channelId: row.id, userId, readSeq: startingReadSeq(row.id) })))
      .onConflictDoNothing()
      .returning({ userId: channelMembers.userId });
    return { id: row.id, added: added.map((a) => a.userId), created: created.length > 0 };
  });
  const channel = (await loadChannel(ctx.db, result.id))!;
  if (result.added.length) {
    await notifyUsers(ctx, result.added, { type: 'channel_added', channel });
    await announceMembers(ctx, channel.id, { added: result.added });
  }
  return channel;
}

/**
 * READ2: a moved cursor reaches every authenticated socket of the reader on every instance
 * (but `skipConnId`, which has it), and in a direct channel the other member's: a read receipt.
 */
export async function announceRead(
  ctx: Pick<AppContext, 'bus' | 'log'>,
  event: ServerFrame,
  where: { direct: boolean; memberIds: string[] },
  skipConnId?: string,
): Promise<void> {
  if (event.type !== 'read') return;
  await notifyUsers(ctx, [event.userId], event, skipConnId);
  if (where.direct) await notifyUsers(ctx, where.memberIds.filter((id) => id !== event.userId), event);
}
