/**
 * The browser's HTTP client for /api: same-origin fetch with the session cookie, JSON in and
 * out, every response parsed with the shared zod schema and every failure turned into an
 * ApiError carrying the contract's stable code (and Retry-After, for rate limits).
 *
 * (SPEC POP8) While this browser holds the key of a bound device, every request carries a DPoP
 * proof made for it alone (its method, its absolute URL without query, a new jti): the session
 * cookie is worth nothing without the key. A 401 `invalid_proof` ends the session like a 401
 * `unauthenticated` does.
 *
 * Clock: proofs are dated on the server's clock as estimated from every response's `Date` header
 * (shared/proofs.ts `serverClock`), so a computer whose clock is minutes off is not signed out.
 * A 401 `invalid_proof` whose `Date` shows the proof's time was off is sent once more with a new
 * proof on the corrected clock (safe: the server refused it before doing anything); only if that
 * fails too does the session end.
 */
import type { z } from 'zod';
import { errorBody } from '../../../shared/api.js';
import { dpopProof, serverClock } from '../../../shared/proofs.js';
import { currentProofKey } from '../auth/device-key.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds from the Retry-After header of a 429, when present. */
    readonly retryAfter?: number,
    /** A 429's RateLimit-Scope: `username` (that username only) or `address` (everything from here). */
    readonly scope?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Listeners told when any request comes back 401: the session is gone. */
const unauthenticatedListeners = new Set<(message: string) => void>();

export function onUnauthenticated(fn: (message: string) => void): () => void {
  unauthenticatedListeners.add(fn);
  return () => unauthenticatedListeners.delete(fn);
}

/** What a person reads when the server refused this browser's proof (POP8). */
export const INVALID_PROOF_MESSAGE =
  'This browser no longer holds the key this sign-in was bound to, so the server would not accept it. Sign in again.';

/** The DPoP header for one request of a bound device's session; none without a key (or if signing fails: the server then says so). */
async function proofHeader(method: string, path: string): Promise<Record<string, string>> {
  try {
    const key = await currentProofKey();
    return key ? { DPoP: await dpopProof(key, method, new URL(path, location.href).href) } : {};
  } catch {
    return {};
  }
}

/** The `error.code` of an error answer, read from a copy (the caller still reads the body). */
async function errorCode(res: Response): Promise<string | undefined> {
  const parsed = errorBody.safeParse(await res.clone().json().catch(() => undefined));
  return parsed.success ? parsed.data.error.code : undefined;
}

/** One request, learning the server's clock from its answer; retried once if its proof was dated off that clock. */
async function send(method: string, path: string, body: unknown, retried = false): Promise<Response> {
  const offsetBefore = serverClock.offset;
  let res: Response;
  let proved = false;
  try {
    const proof = await proofHeader(method, path);
    proved = 'DPoP' in proof;
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...proof,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network_error', 'The server cannot be reached. Check your connection and try again.');
  }
  serverClock.observe(res.headers.get('date'));
  if (res.status === 401 && proved && !retried && serverClock.movedSince(offsetBefore) && (await errorCode(res)) === 'invalid_proof') {
    return send(method, path, body, true);
  }
  return res;
}

async function request<S extends z.ZodType>(method: string, path: string, schema: S | null, body?: unknown): Promise<z.output<S>> {
  const res = await send(method, path, body);
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const parsed = errorBody.safeParse(json);
    const retry = Number(res.headers.get('retry-after'));
    const err = new ApiError(
      res.status,
      parsed.success ? parsed.data.error.code : 'http_error',
      parsed.success ? parsed.data.error.message : `The server answered ${res.status}.`,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
      res.headers.get('ratelimit-scope') ?? undefined,
    );
    // Login and register answer 401 for wrong credentials; only other 401s mean "session gone".
    // invalid_proof too: this browser cannot prove its device's key, so the session is no use here.
    if (res.status === 401 && (err.code === 'unauthenticated' || err.code === 'invalid_proof')) {
      const message = err.code === 'invalid_proof' ? INVALID_PROOF_MESSAGE : err.message;
      for (const fn of unauthenticatedListeners) fn(message);
    }
    throw err;
  }
  if (!schema) return undefined as z.output<S>;
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ApiError(res.status, 'bad_response', 'The server sent an answer this app does not understand.');
  return parsed.data;
}

export const http = {
  get: <S extends z.ZodType>(path: string, schema: S) => request('GET', path, schema),
  post: <S extends z.ZodType>(path: string, schema: S | null, body?: unknown) => request('POST', path, schema, body),
  patch: <S extends z.ZodType>(path: string, schema: S | null, body?: unknown) => request('PATCH', path, schema, body),
  delete: (path: string) => request('DELETE', path, null),
};

/** A sentence for a person, from any error a request can throw. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    switch (err.code) {
      case 'invalid_credentials':
        return 'Wrong username or password.';
      case 'rate_limited':
        return err.retryAfter ? `Too many attempts. Try again in ${formatWait(err.retryAfter)}.` : 'Too many attempts. Wait a moment and try again.';
      case 'registration_closed':
        return 'Registration is closed on this server. Ask an administrator for an account.';
      case 'account_disabled':
        return 'This account is disabled. Contact an administrator.';
      case 'username_taken':
        return 'That username is taken. Pick another one.';
      case 'name_taken':
        return 'A channel with that name already exists.';
      case 'invalid_proof':
        return INVALID_PROOF_MESSAGE;
      case 'forbidden':
        return err.message || 'You are not allowed to do that.';
      default:
        return err.message;
    }
  }
  return 'Something went wrong. Try again.';
}

/** "45 seconds", "3 minutes", "1 hour". */
export function formatWait(seconds: number): string {
  if (seconds < 90) return `${Math.ceil(seconds)} second${Math.ceil(seconds) === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 90) return `${minutes} minutes`;
  const hours = Math.ceil(minutes / 60);
  return `${hours} hour${hours === 1 ? '' : 's'}`;
}
