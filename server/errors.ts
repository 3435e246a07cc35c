/**
 * Error factories with stable snake_case codes. One error handler (errorHandler in http/errors.ts) turns
 * an AppError into `{error: {code, message}}` with its status; anything else becomes a generic 500.
 */
import { HTTP_ERRORS, type HttpErrorCode } from '../shared/codes.js';

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = HTTP_ERRORS[code];
  }
}

export const invalidRequest = (message: string) => new AppError('invalid_request', message);
export const unauthenticated = (message = 'Sign in first') => new AppError('unauthenticated', message);
export const invalidCredentials = () => new AppError('invalid_credentials', 'Wrong username or password');
export const forbidden = (message = 'You may not do that') => new AppError('forbidden', message);
export const badOrigin = () => new AppError('bad_origin', 'Cross-origin request refused');
export const accountDisabled = () => new AppError('account_disabled', 'This account is disabled');
export const registrationClosed = () => new AppError('registration_closed', 'Registration is closed');
export const notFound = (what = 'Resource') => new AppError('not_found', `${what} not found`);
export const usernameTaken = () => new AppError('username_taken', 'That username is taken');
export const nameTaken = () => new AppError('name_taken', 'A channel with that name exists');
export const unsupportedMediaType = () =>
  new AppError('unsupported_media_type', 'Send the request body as application/json');
/**
 * `scope` (added to the contract, header `RateLimit-Scope`) says what the wait applies to, so a
 * client can tell "this username, from here" (`username`) from "anything from this address"
 * (`address`) or "this account's writes" (`user`).
 */
export type RateLimitScope = 'address' | 'username' | 'user';
export const rateLimited = (retryAfterSeconds: number, scope?: RateLimitScope) =>
  new AppError('rate_limited', `Too many attempts; try again in ${retryAfterSeconds} s`, {
    'Retry-After': String(retryAfterSeconds),
    ...(scope ? { 'RateLimit-Scope': scope } : {}),
  });
export const serviceUnavailable = (message = 'A backing service is unavailable; try again shortly') =>
  new AppError('service_unavailable', message);
