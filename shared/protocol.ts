/**
 * The WebSocket protocol of `/ws`, defined once: every client frame and every server frame as a
 * zod schema in a discriminated union on `type`. See server/realtime/SPEC.md for the rules.
 */
import { z } from 'zod';
import { LIMITS, WS_ERRORS } from './codes.js';
import { channel, id, message, messageId, nulFree, seq, user } from './api.js';

const ref = z.string().max(64).optional();
/** (v2) A compact JWS proving possession of the device key (POP1–POP5). */
const proof = z.string().min(1).max(2048).optional();
/** (v2) The nonce the next proof signs (POP2). */
const nonce = z.string();
/** This server always sends it on `authenticated` and `refreshed`; a v1 server's frames lack it. */
const nextNonce = nonce.optional();
/** Channel ids are uuids, compared in lower case (the form the server stores and sends). */
const channelId = id.transform((s) => s.toLowerCase());
/**
 * MSG2: the idempotency key. It must be well-formed Unicode: Postgres stores text as UTF-8, where
 * every lone surrogate becomes U+FFFD, so two different ids would collide and the second message
 * would be acknowledged as a retry of the first, i.e. silently dropped.
 */
const clientMsgId = nulFree(z.string().min(1).max(LIMITS.clientMsgIdMax)).refine(
  (v) => !/\p{Cs}/u.test(v),
  'must be well-formed Unicode (no lone surrogate)',
);

export const clientFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('authenticate'), token: z.string().min(1).max(4096), proof, ref }),
  z.strictObject({
    type: z.literal('subscribe'),
    channelId,
    /** v1: replay the messages after this message id. */
    since: messageId.optional(),
    /** SEQ4: replay the channel's events after this seq. */
    sinceSeq: seq.optional(),
    ref,
  }),
  z.strictObject({ type: z.literal('unsubscribe'), channelId, ref }),
  z.strictObject({
    type: z.literal('send'),
    channelId,
    clientMsgId,
    body: nulFree(z.string().min(1).max(LIMITS.messageBodyMax)),
    ref,
  }),
  z.strictObject({ type: z.literal('typing'), channelId, ref }),
  /** v2: edit one's own message (a new event with its own seq). */
  z.strictObject({
    type: z.literal('edit'),
    channelId,
    messageId,
    body: nulFree(z.string().min(1).max(LIMITS.messageBodyMax)),
    ref,
  }),
  /** v2: delete one's own message (an admin: anyone's); it stays as a tombstone. */
  z.strictObject({ type: z.literal('delete'), channelId, messageId, ref }),
  /** v2: move the caller's read cursor forward (clamped to the channel's lastSeq). */
  z.strictObject({ type: z.literal('read'), channelId, seq, ref }),
  z.strictObject({ type: z.literal('refresh'), token: z.string().min(1).max(4096), proof, ref }),
  z.strictObject({ type: z.literal('ping'), ref }),
]);

const presenceStatus = z.enum(['online', 'offline']);

export const serverFrame = z.discriminatedUnion('type', [
  /** (v2) Sent right after the upgrade, before anything else: the nonce of the first proof (POP2). */
  z.object({ type: z.literal('challenge'), nonce }),
  z.object({ type: z.literal('authenticated'), user, deviceId: id, expiresAt: z.string(), nonce: nextNonce, ref }),
  z.object({
    type: z.literal('subscribed'),
    channelId: id,
    presence: z.record(z.string(), presenceStatus),
    /** The seq of the channel's latest event when the subscription began (SEQ4). */
    lastSeq: seq,
    /** The caller's read cursor in the channel (READ1). */
    readSeq: seq,
    truncated: z.boolean().optional(),
    ref,
  }),
  z.object({ type: z.literal('unsubscribed'), channelId: id, ref }),
  /** A stream frame: `seq` is the event's (here equal to `message.seq`). */
  z.object({ type: z.literal('message'), seq, message }),
  z.object({ type: z.literal('ack'), clientMsgId: z.string(), message, ref }),
  /** Stream frames of an edit and a deletion: `seq` is the event's, not the message's. */
  z.object({ type: z.literal('message_updated'), seq, message }),
  z.object({ type: z.literal('message_deleted'), channelId: id, messageId: id, seq }),
  /** The answers to `edit` and `delete`, to the socket that asked. */
  z.object({ type: z.literal('edited'), seq, message, ref }),
  z.object({ type: z.literal('deleted'), channelId: id, messageId: id, seq, ref }),
  /** A read cursor moved: to all the reader's sockets; in a direct channel also to the other member's. */
  z.object({ type: z.literal('read'), channelId: id, userId: id, seq, ref }),
  z.object({ type: z.literal('typing'), channelId: id, userId: id }),
  z.object({ type: z.literal('presence'), channelId: id, userId: id, status: presenceStatus }),
  z.object({ type: z.literal('channel_added'), channel }),
  z.object({ type: z.literal('channel_removed'), channelId: id }),
  /** v2: the channel's members changed, once per change, to the channel's subscribers. */
  z.object({ type: z.literal('members_changed'), channelId: id, added: z.array(id), removed: z.array(id) }),
  /** v2: a user of one of the channel's members changed (display name), to the channel's subscribers. */
  z.object({ type: z.literal('user_updated'), user }),
  z.object({ type: z.literal('refreshed'), expiresAt: z.string(), nonce: nextNonce, ref }),
  z.object({ type: z.literal('pong'), ref }),
  z.object({ type: z.literal('token_expiring'), expiresAt: z.string() }),
  z.object({ type: z.literal('error'), code: z.enum(WS_ERRORS), message: z.string().optional(), ref }),
]);

export type ClientFrame = z.infer<typeof clientFrame>;
export type ServerFrame = z.infer<typeof serverFrame>;
export type ClientFrameOf<T extends ClientFrame['type']> = Extract<ClientFrame, { type: T }>;
export type ServerFrameOf<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;
export type PresenceStatus = z.infer<typeof presenceStatus>;
