/**
 * HTTP bodies and resource shapes of the public contract, as zod schemas.
 * The server validates requests with them; the client parses responses with them.
 */
import { z } from 'zod';
import { LIMITS } from './codes.js';

/** Postgres text cannot hold U+0000: a string with it is invalid input (400, invalid_message), not a 500. */
export function nulFree(schema: z.ZodString): z.ZodString {
  return schema.refine((v) => !v.includes('\u0000'), 'must not contain the character U+0000');
}

export const id = nulFree(z.string().min(1).max(64));

/** A message id: a decimal Postgres bigint, so at most 2^63 - 1 (a larger one would be a 500). */
export const messageId = z
  .string()
  .regex(/^\d{1,19}$/, 'must be a message id')
  // Compared as text (same length, digits only) so a value the regex refused cannot throw here.
  .refine((s) => s.length < 19 || s <= '9223372036854775807', 'must be a message id');

export const username = z
  .string()
  .trim()
  .min(LIMITS.usernameMin, `must be ${LIMITS.usernameMin} to ${LIMITS.usernameMax} characters`)
  .max(LIMITS.usernameMax, `must be ${LIMITS.usernameMin} to ${LIMITS.usernameMax} characters`)
  .regex(/^[A-Za-z0-9_.-]+$/, 'may contain only a-z, 0-9, _ . -')
  .transform((s) => s.toLowerCase());

export const password = z
  .string()
  .min(LIMITS.passwordMin, `must be ${LIMITS.passwordMin} to ${LIMITS.passwordMax} characters`)
  .max(LIMITS.passwordMax, `must be ${LIMITS.passwordMin} to ${LIMITS.passwordMax} characters`);

const displayName = nulFree(z.string().trim().min(1).max(LIMITS.displayNameMax));
const deviceName = nulFree(z.string().trim().min(1).max(LIMITS.deviceNameMax));

/** A base64url-encoded P-256 coordinate: 32 bytes, 43 characters, no padding. */
const p256Coordinate = z.string().regex(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/, 'must be a base64url P-256 coordinate');

/**
 * (v2) A device's public key: an EC P-256 JWK. Only the public members are allowed (a private
 * part `d`, or any other member, is refused); `alg`, `ext` and `key_ops` are tolerated because
 * WebCrypto's exportKey('jwk') writes them. The server stores `{kty, crv, x, y}` only.
 */
const DEVICE_KEY_MEMBERS = new Set(['kty', 'crv', 'x', 'y', 'alg', 'ext', 'key_ops']);
export const deviceKey = z
  .looseObject({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: p256Coordinate,
    y: p256Coordinate,
    alg: z.literal('ES256').optional(),
    ext: z.boolean().optional(),
    key_ops: z.array(z.literal('verify')).max(1).optional(),
  })
  // Checked here rather than by a strict object, so the error names `deviceKey` (and says why).
  .superRefine((key, ctx) => {
    const extra = Object.keys(key).filter((k) => !DEVICE_KEY_MEMBERS.has(k));
    if (extra.length) ctx.addIssue({ code: 'custom', message: `must be a public EC P-256 key; ${extra.join(', ')} not allowed` });
  });
export type DeviceKey = z.infer<typeof deviceKey>;

/** v2: `invite`, a code from an admin, lets a person register while registration is closed. */
export const registerBody = z.strictObject({
  username,
  password,
  displayName: displayName.optional(),
  deviceKey: deviceKey.optional(),
  invite: z.string().min(1).max(100).optional(),
});
export const registrationBody = z.strictObject({ mode: z.enum(['open', 'closed']) });
export const setupResponse = z.object({ needsAdmin: z.boolean(), registration: z.enum(['open', 'closed', 'invite']) });
export const inviteResponse = z.object({ invite: z.object({ code: z.string(), expiresAt: z.string() }) });
export const loginBody = z.strictObject({ username, password, deviceName: deviceName.optional(), deviceKey: deviceKey.optional() });

/** `PATCH /api/me` (v2). */
export const updateMeBody = z.strictObject({ displayName });
/** `POST /api/me/password` (v2): the current password is only compared, so any length up to the maximum. */
export const changePasswordBody = z.strictObject({ currentPassword: z.string().min(1).max(LIMITS.passwordMax), newPassword: password });

export const CHANNEL_NAME_RULE = `may contain only a-z, 0-9, - and _ (1 to ${LIMITS.channelNameMax}; capitals are lower-cased, spaces become -)`;

/**
 * A new channel's name (v2, Slack-like): "General Chat" is made "general-chat"; anything else
 * outside a-z 0-9 - _ is refused naming the rule. Channels named before the rule keep their names.
 * @example
 * channelName.parse('  Design Review ') // 'design-review'
 */
export function normaliseChannelName(raw: string): string {
  return raw.trim().toLowerCase().replace(/\s+/g, '-');
}
export const channelName = z
  .string()
  .transform(normaliseChannelName)
  .pipe(z.string().regex(new RegExp(`^[a-z0-9_-]{1,${LIMITS.channelNameMax}}$`), CHANNEL_NAME_RULE));

export const createChannelBody = z.strictObject({
  name: channelName,
  kind: z.enum(['public', 'private']),
  memberIds: z.array(id).max(1000).optional(),
});
export const addMemberBody = z.strictObject({ userId: id });
export const directBody = z.strictObject({ userId: id });

/** A channel stream position (SEQ1): a JSON integer from 0 (before the first event). */
export const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** The same, from a query string. */
const seqParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const readBody = z.strictObject({ seq });
export const readResponse = z.object({ readSeq: seq, unread: z.number().int().min(0), mentions: z.number().int().min(0) });
/** Added to the contract: `POST /api/channels/:id/mute {muted}`. */
export const muteBody = z.strictObject({ muted: z.boolean() });

export const historyQuery = z.strictObject({
  before: messageId.optional(),
  after: messageId.optional(),
  beforeSeq: seqParam.optional(),
  afterSeq: seqParam.optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.historyPageMax).default(LIMITS.historyPageDefault),
});
export const userSearchQuery = z.strictObject({
  q: nulFree(z.string().max(64)).optional(),
  /** Added to the contract: look people up by id (comma-separated, at most 100), e.g. channel members. */
  ids: z
    .string()
    .max(100 * 37)
    .transform((s) => [...new Set(s.split(',').map((x) => x.trim()).filter(Boolean))])
    .pipe(z.array(z.string().max(64)).max(100, 'at most 100 ids'))
    .optional(),
});
/** `GET /api/search` (v2): `q` must hold more than spaces; `before` is a message id (paging). */
export const searchQuery = z.strictObject({
  q: nulFree(z.string().max(LIMITS.searchQueryMax)).refine((v) => v.trim().length > 0, 'must not be empty'),
  channelId: id.optional(),
  before: messageId.optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.searchPageMax).default(LIMITS.searchPageDefault),
});
export const auditQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

export const role = z.enum(['user', 'admin']);
export const user = z.object({ id, username: z.string(), displayName: z.string(), role });
export const device = z.object({
  id,
  name: z.string(),
  userAgent: z.string(),
  ip: z.string(),
  createdAt: z.string(),
  lastSeenAt: z.string(),
  revokedAt: z.string().nullable(),
  current: z.boolean(),
  online: z.boolean(),
  /** (v2) The device holds a key: its tokens are accepted only with a proof signed by it. */
  bound: z.boolean(),
  /** (v2) How the device signed in: a password (or registration) or a passkey. */
  signedInWith: z.enum(['password', 'passkey']),
});
export const channelKind = z.enum(['public', 'private', 'direct']);
export const channel = z.object({
  id,
  name: z.string(),
  kind: channelKind,
  memberIds: z.array(id),
  createdAt: z.string(),
  /** The seq of the channel's latest event (0: none yet). */
  lastSeq: seq.optional(),
  /** For the caller's own channels (v2): their read cursor, unread messages and mentions of them among those. */
  readSeq: seq.optional(),
  unread: z.number().int().min(0).optional(),
  mentions: z.number().int().min(0).optional(),
  /** Added to the contract: the caller muted this channel (no notifications). */
  muted: z.boolean().optional(),
  /** Added to the contract: in a direct channel, the other member's read cursor (a read receipt). */
  peerReadSeq: seq.optional(),
});
export const message = z.object({
  id,
  channelId: id,
  /** The channel seq of the message's creation; it keeps it when edited or deleted. */
  seq,
  senderId: id,
  clientMsgId: z.string(),
  body: z.string(),
  /** User ids the message mentions. */
  mentions: z.array(id),
  createdAt: z.string(),
  editedAt: z.string().nullable(),
  deletedAt: z.string().nullable(),
});
export const userSummary = z.object({ id, username: z.string(), displayName: z.string(), online: z.boolean() });
export const adminUser = user.extend({ disabled: z.boolean(), createdAt: z.string(), online: z.boolean() });
export const auditEvent = z.object({
  id,
  at: z.string(),
  actorId: id.nullable(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  ip: z.string().nullable(),
  // Added to the contract: the names behind the ids, read with the event (null: unknown or deleted).
  /** The actor's names. */
  actor: z.object({ username: z.string(), displayName: z.string() }).nullable().optional(),
  /** The target's own name: a device's or a channel's, a user's display name. */
  targetName: z.string().nullable().optional(),
  /** Whom the event concerns: the target user, a device's owner, a message's sender. */
  targetUser: z.object({ id, username: z.string(), displayName: z.string() }).nullable().optional(),
});

/** A piece of a search snippet: plain text (never HTML), `match` when it is a word the query matched. */
export const snippetSegment = z.object({ text: z.string(), match: z.boolean() });
export const searchResult = z.object({ message, channel, snippet: z.array(snippetSegment) });
export const searchResponse = z.object({ results: z.array(searchResult) });

export const authResponse = z.object({ user, device, token: z.string(), expiresAt: z.string() });
export const tokenResponse = z.object({ token: z.string(), expiresAt: z.string() });
export const meResponse = z.object({ user, device });
export const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export type User = z.infer<typeof user>;
export type Device = z.infer<typeof device>;
export type Channel = z.infer<typeof channel>;
export type Message = z.infer<typeof message>;
export type UserSummary = z.infer<typeof userSummary>;
export type AdminUser = z.infer<typeof adminUser>;
export type AuditEvent = z.infer<typeof auditEvent>;
export type AuthResponse = z.infer<typeof authResponse>;
export type SnippetSegment = z.infer<typeof snippetSegment>;
export type SearchResult = z.infer<typeof searchResult>;
export type ErrorBody = z.infer<typeof errorBody>;

// ---------------------------------------------------------------------------------------------
// (v2) Passkeys (WebAuthn). The WebAuthn JSON the browser produces (@simplewebauthn/browser's
// startRegistration/startAuthentication) is checked here for shape only; the server verifies it.

const base64url = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
/** Transports an authenticator may report; unknown ones are refused rather than stored. */
export const authenticatorTransport = z.enum(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);
const credentialCommon = {
  id: base64url(1400),
  rawId: base64url(1400),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.looseObject({}),
};

/** What `startRegistration()` resolves to (RegistrationResponseJSON). */
export const passkeyRegistrationResponse = z.looseObject({
  ...credentialCommon,
  response: z.looseObject({
    clientDataJSON: base64url(8192),
    attestationObject: base64url(16384),
    transports: z.array(authenticatorTransport).max(10).optional(),
  }),
});
/** What `startAuthentication()` resolves to (AuthenticationResponseJSON). */
export const passkeyAuthenticationResponse = z.looseObject({
  ...credentialCommon,
  response: z.looseObject({
    clientDataJSON: base64url(8192),
    authenticatorData: base64url(8192),
    signature: base64url(2048),
    userHandle: base64url(128).optional(),
  }),
});

const passkeyName = nulFree(z.string().trim().min(1).max(LIMITS.deviceNameMax));
/** `POST /api/auth/passkeys/options`: the account's current password (only compared, like a password change's). */
export const passkeyOptionsBody = z.strictObject({ password: z.string().min(1).max(LIMITS.passwordMax) });
/** `POST /api/auth/passkeys`: the registration response, and a name for the passkey. */
export const registerPasskeyBody = z.strictObject({ response: passkeyRegistrationResponse, name: passkeyName.optional() });
/** Added to the contract: `PATCH /api/auth/passkeys/:id`. */
export const renamePasskeyBody = z.strictObject({ name: passkeyName });
/** `POST /api/auth/passkey/login`: like a password login, with the authenticator's assertion instead of a username and password. */
export const passkeyLoginBody = z.strictObject({
  response: passkeyAuthenticationResponse,
  deviceName: deviceName.optional(),
  deviceKey: deviceKey.optional(),
});

export const passkey = z.object({ id, name: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable() });
export const passkeyResponse = z.object({ passkey });
export const passkeysResponse = z.object({ passkeys: z.array(passkey) });
/**
 * The options answers are WebAuthn JSON options at the top level of the body, handed as they are
 * to startRegistration/startAuthentication; only what the client relies on is checked.
 */
export const passkeyCreationOptions = z.looseObject({ challenge: z.string(), rp: z.looseObject({ name: z.string() }), user: z.looseObject({ id: z.string() }) });
export const passkeyRequestOptions = z.looseObject({ challenge: z.string() });

export type Passkey = z.infer<typeof passkey>;
export type PasskeyRegistrationResponse = z.infer<typeof passkeyRegistrationResponse>;
export type PasskeyAuthenticationResponse = z.infer<typeof passkeyAuthenticationResponse>;
