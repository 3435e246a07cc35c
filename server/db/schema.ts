/**
 * The database schema (drizzle). Migrations in migrations/ are generated from this file by
 * `npm run db:generate`; never edit a generated migration by hand.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  customType,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
  json,
} from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Lower-cased; usernames compare case-insensitively. */
    username: text('username').notNull(),
    displayName: text('display_name').notNull(),
    passwordHash: text('password_hash').notNull(),
    role: text('role', { enum: ['user', 'admin'] }).notNull().default('user'),
    disabled: boolean('disabled').notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('users_username_key').on(t.username)],
);

export const devices = pgTable(
  'devices',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    userAgent: text('user_agent').notNull().default(''),
    ip: text('ip').notNull().default(''),
    /** SHA-256 (base64url) of the device-fingerprint cookie; the token carries the same hash. */
    fingerprintHash: text('fingerprint_hash').notNull(),
    createdAt: createdAt(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokedReason: text('revoked_reason'),
    /** (v2) The device's public key, `{kty, crv, x, y}` (EC P-256); null for an unbound device. */
    publicKey: jsonb('public_key').$type<{ kty: 'EC'; crv: 'P-256'; x: string; y: string }>(),
    /** (v2) RFC 7638 SHA-256 thumbprint of `publicKey`; tokens carry it as `cnf.jkt`. */
    keyThumbprint: text('key_thumbprint'),
    /** (v2) How this device signed in: a password (or registration) or a passkey. */
    signedInWith: text('signed_in_with', { enum: ['password', 'passkey'] }).notNull().default('password'),
  },
  (t) => [index('devices_user_id_idx').on(t.userId)],
);

/** Raw bytes (Postgres bytea), as a Uint8Array: what @simplewebauthn/server reads and writes. */
const bytea = customType<{ data: Uint8Array<ArrayBuffer>; driverData: Buffer }>({
  dataType: () => 'bytea',
  toDriver: (value) => Buffer.from(value),
  fromDriver: (value) => new Uint8Array(value),
});

/**
 * (v2) WebAuthn credentials (auth/passkeys/). `credential_id` is the authenticator's id
 * (base64url, as the browser sends it); `counter` only moves forward (a regression is refused:
 * a cloned authenticator or a replay).
 */
export const passkeys = pgTable(
  'passkeys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    credentialId: text('credential_id').notNull(),
    /** The COSE public key of the credential. */
    publicKey: bytea('public_key').notNull(),
    counter: bigint('counter', { mode: 'number' }).notNull().default(0),
    /** Transports the authenticator reported (`internal`, `hybrid`, `usb`…), a hint for the browser. */
    transports: text('transports').array().notNull().default(sql`'{}'::text[]`),
    /** `singleDevice` or `multiDevice` (a synced passkey). */
    deviceType: text('device_type', { enum: ['singleDevice', 'multiDevice'] }).notNull(),
    backedUp: boolean('backed_up').notNull().default(false),
    name: text('name').notNull(),
    createdAt: createdAt(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    /**
     * The signed-in device that registered it (null: registered before this was recorded). A
     * password change or an administrator's "sign out all devices" removes the passkeys of the
     * devices it signs out, so one an intruder added from a session does not outlive it.
     */
    registeredByDeviceId: uuid('registered_by_device_id').references(() => devices.id, { onDelete: 'set null' }),
  },
  (t) => [uniqueIndex('passkeys_credential_id_key').on(t.credentialId), index('passkeys_user_id_idx').on(t.userId)],
);

export const channels = pgTable(
  'channels',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    kind: text('kind', { enum: ['public', 'private', 'direct'] }).notNull(),
    /** For direct channels: the two user ids, sorted and joined, so a pair has exactly one. */
    directKey: text('direct_key'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    /**
     * The seq of the channel's latest event (SEQ1). Taken with `last_seq + 1` in the statement
     * that stores the event, so the row lock orders seqs as the commits are ordered.
     */
    lastSeq: bigint('last_seq', { mode: 'number' }).notNull().default(0),
  },
  (t) => [
    uniqueIndex('channels_direct_key_key').on(t.directKey),
    uniqueIndex('channels_name_key')
      .on(sql`lower(${t.name})`)
      .where(sql`${t.kind} <> 'direct'`),
  ],
);

export const channelMembers = pgTable(
  'channel_members',
  {
    channelId: uuid('channel_id')
      .notNull()
      .references(() => channels.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    joinedAt: timestamp('joined_at', { withTimezone: true }).notNull().defaultNow(),
    /**
     * READ1: the member's read cursor, a channel seq. It starts at the channel's last_seq when
     * the member joins (nothing from before is unread) and only moves forward.
     */
    readSeq: bigint('read_seq', { mode: 'number' }).notNull().default(0),
    /** The member muted the channel: no notifications (the client's to honour). */
    muted: boolean('muted').notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.channelId, t.userId] }), index('channel_members_user_id_idx').on(t.userId)],
);

export const messages = pgTable(
  'messages',
  {
    /** Global identity; within a channel, ids grow in commit order (see messaging/messages.ts). */
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => channels.id, { onDelete: 'cascade' }),
    /** The channel's seq of this message's creation (SEQ1): 1, 2, 3… per channel, no gap. */
    seq: bigint('seq', { mode: 'number' }).notNull(),
    senderId: uuid('sender_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientMsgId: text('client_msg_id').notNull(),
    /** '' once deleted (the tombstone keeps its place, never its words). */
    body: text('body').notNull(),
    /** User ids the body mentions (channel members at the time of writing), recomputed on edit. */
    mentions: uuid('mentions').array().notNull().default(sql`'{}'::uuid[]`),
    createdAt: createdAt(),
    editedAt: timestamp('edited_at', { withTimezone: true }),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('messages_sender_client_msg_id_key').on(t.senderId, t.clientMsgId),
    index('messages_channel_id_id_idx').on(t.channelId, t.id),
    uniqueIndex('messages_channel_id_seq_key').on(t.channelId, t.seq),
    /**
     * Full-text search (search/search.ts): an expression index, not a stored tsvector column,
     * so adding it rewrites no table and stores nothing twice; queries must spell the same
     * expression (SEARCH_VECTOR). 'simple': no stemming and no stop words, so it behaves the
     * same whatever language people write in. Deleted messages (body '') are left out.
     */
    index('messages_body_search_idx')
      .using('gin', sql`to_tsvector('simple'::regconfig, ${t.body})`)
      .where(sql`${t.deletedAt} IS NULL`),
  ],
);

/**
 * SEQ1: edits and deletions are events of the channel's stream with seqs of their own (a
 * message's creation is its row in `messages`). A replay reads both, in seq order.
 */
export const messageChanges = pgTable(
  'message_changes',
  {
    channelId: uuid('channel_id')
      .notNull()
      .references(() => channels.id, { onDelete: 'cascade' }),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    messageId: bigint('message_id', { mode: 'number' })
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['edit', 'delete'] }).notNull(),
    at: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.channelId, t.seq] })],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    actorId: uuid('actor_id'),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id'),
    ip: text('ip'),
    details: jsonb('details'),
  },
  (t) => [index('audit_events_at_idx').on(t.at)],
);

/** express-session rows when REDIS_URL is unset (the table connect-pg-simple expects). */
export const sessions = pgTable(
  'session',
  {
    sid: varchar('sid').primaryKey(),
    sess: json('sess').notNull(),
    expire: timestamp('expire', { precision: 6 }).notNull(),
  },
  (t) => [index('IDX_session_expire').on(t.expire)],
);

/**
 * Settings an administrator changes at run time (setup/settings.ts), one row per key; a key
 * without a row takes its default from the environment (e.g. `registration` from REGISTRATION).
 */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  updatedBy: uuid('updated_by').references(() => users.id, { onDelete: 'set null' }),
});

/** Single-use invite codes (setup/invites.ts): only the SHA-256 of a code is stored. */
export const invites = pgTable(
  'invites',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    codeHash: text('code_hash').notNull(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
    usedBy: uuid('used_by').references(() => users.id, { onDelete: 'set null' }),
  },
  (t) => [uniqueIndex('invites_code_hash_key').on(t.codeHash)],
);
