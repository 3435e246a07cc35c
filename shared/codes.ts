/**
 * Every stable code of the public contract, defined once. The browser and the server import
 * these tables; nothing else spells a close code or an error code by hand.
 */

/** WebSocket close reasons and the code each one closes with (CONTRACT "close code" table). */
export const CLOSE_REASONS = {
  going_away: 1001,
  binary_not_supported: 1003,
  frame_too_big: 1009,
  authentication_required: 4401,
  invalid_token: 4401,
  token_expired: 4401,
  /** (v2) A bound device's proof of possession is missing or wrong (POP1–POP5). */
  invalid_proof: 4401,
  device_revoked: 4403,
  logged_out: 4403,
  account_disabled: 4403,
  /** The user changed their password on another device (v2). */
  password_changed: 4403,
  authentication_timeout: 4408,
  rate_limited: 4429,
  // Added to the contract's table:
  /** The socket read too slowly: its unsent frames passed the server's bound. Reconnect with `since`. */
  slow_consumer: 1008,
  /** The server could not check the socket's device (database unreachable). Reconnect with backoff. */
  try_again_later: 1013,
  /** The user already holds the most sockets allowed (MAX_SOCKETS_PER_USER). */
  too_many_sockets: 4429,
  /** An administrator signed this device out (`device_revoked` is its own user, from another device). */
  revoked_by_admin: 4403,
} as const;

export type CloseReason = keyof typeof CLOSE_REASONS;

/** Reasons a device can be cut off with; each closes its sockets with 4403. */
export type RevocationReason = 'device_revoked' | 'revoked_by_admin' | 'logged_out' | 'account_disabled' | 'password_changed';

/** Reasons kept in a revoked device's row that its sockets are closed with as they are (who did it). */
const STORED_REVOCATION_REASONS = new Set<string>(['logged_out', 'password_changed', 'revoked_by_admin'] satisfies RevocationReason[]);

/** The close reason for a device revoked with `stored` (devices.revoked_reason); `device_revoked` for anything else. */
export function revokedDeviceReason(stored: string | null | undefined): Exclude<RevocationReason, 'account_disabled'> {
  return stored && STORED_REVOCATION_REASONS.has(stored) ? (stored as 'logged_out' | 'password_changed' | 'revoked_by_admin') : 'device_revoked';
}

/** HTTP error codes and their status. */
export const HTTP_ERRORS = {
  invalid_request: 400,
  /** (v2) A well-formed passkey registration that fails WebAuthn verification. */
  invalid_passkey: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  /** (v2) A bound device's DPoP proof is missing or wrong, or DEVICE_BINDING=required and the device has no key. */
  invalid_proof: 401,
  forbidden: 403,
  bad_origin: 403,
  account_disabled: 403,
  registration_closed: 403,
  not_found: 404,
  username_taken: 409,
  name_taken: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/** Error codes carried by `{type: "error"}` WebSocket frames. */
export const WS_ERRORS = ['invalid_message', 'forbidden', 'not_found', 'rate_limited', 'internal_error'] as const;
export type WsErrorCode = (typeof WS_ERRORS)[number];

/** Limits both sides agree on. */
export const LIMITS = {
  usernameMin: 3,
  usernameMax: 32,
  passwordMin: 8,
  passwordMax: 128,
  displayNameMax: 64,
  deviceNameMax: 100,
  channelNameMax: 80,
  messageBodyMax: 4000,
  clientMsgIdMax: 64,
  historyPageDefault: 50,
  historyPageMax: 200,
  replayMax: 500,
  /** A `since` replay also stops after about this many bytes of frames (then `truncated`). */
  replayMaxBytes: 1024 * 1024,
  frameMaxBytes: 64 * 1024,
  searchQueryMax: 256,
  searchPageDefault: 20,
  searchPageMax: 50,
} as const;

/**
 * Characters as the limits count them: code points, the way zod's `.max()` counts a string, so
 * an emoji is one character (its UTF-16 `.length` is 2). The composer counts with this to agree
 * with the server's check.
 */
export function characterCount(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}
