/**
 * HTTP to the Relay server for the terminal client: a cookie jar holding the session and
 * device-fingerprint cookies of the login (like `curl -b/-c`), and one place that turns every
 * failure into a line a person can act on (errors.ts).
 *
 * Guarantees:
 * - Cookies are sent to this server only, exactly as it set them (no re-encoding); a cookie the
 *   server clears leaves the jar. `changed` tells the caller to store the jar again.
 * - No cookie, token or password appears in an error message.
 * - (SPEC POP8) With the login's device key, every request carries a DPoP proof made for it alone
 *   (its method, its URL without query, a new jti), so the cookie jar is no use without the key
 *   file. A request that brings its own proof (the realtime client's token requests) keeps it:
 *   each request carries exactly one.
 * - Proofs are dated on the server's clock, learnt from every response's `Date` header (`clock`,
 *   shared/proofs.ts): a machine whose clock is minutes off still proves its key. A request whose
 *   own proof was refused (401 `invalid_proof`) while that header showed its time was off is sent
 *   once more with a new proof on the corrected clock; the server refused it before acting on it.
 * - A server that cannot be reached, or does not answer in `timeoutMs`, is reported as such;
 *   401, 429 (with its Retry-After) and the server's own `{error: {code, message}}` are reported
 *   in plain words.
 *
 * @example
 * const http = new RelayHttp('http://localhost:3000', login.cookies);
 * const { channels } = await http.request<{ channels: Channel[] }>('GET', '/api/channels');
 */
import { parseSetCookie, stringifyCookie } from 'cookie';
import { dpopProof, serverClock, type ProofKey, type ServerClock } from '../../shared/proofs.js';
import { CliError, EXIT, sessionEnded } from './errors.js';
import { safeText } from './output.js';

/** An error answer of the server: its status and snake_case code, for callers that handle one. */
export class HttpError extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    exitCode: number = EXIT.failed,
  ) {
    super(message, exitCode);
  }
}

const asIs = (s: string) => s;

/** "42 s", "3 min": how long to wait, for a person. */
export function formatWait(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.ceil(seconds))} s`;
  return `${Math.ceil(seconds / 60)} min`;
}

export class RelayHttp {
  readonly cookies: Map<string, string>;
  /** A response set or cleared a cookie since this jar was made. */
  changed = false;

  constructor(
    readonly baseUrl: string,
    cookies: Record<string, string> = {},
    private readonly timeoutMs = 30_000,
    /** The login's device key (session.ts); without one, requests carry no proof. */
    private readonly proofKey?: () => Promise<ProofKey>,
    /** The server's clock as estimated; default: this process's. */
    readonly clock: ServerClock = serverClock,
  ) {
    this.cookies = new Map(Object.entries(cookies));
  }

  cookieHeader(): string {
    return stringifyCookie(Object.fromEntries(this.cookies), { encode: asIs });
  }

  /**
   * fetch() with the jar: sends the cookies, keeps what the server sets. A failure to reach the
   * server throws a CliError saying so. Also given to the realtime client for its token requests.
   */
  readonly fetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => this.send(input, init, false);

  private async send(input: string | URL | Request, init: RequestInit, retried: boolean): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', this.cookieHeader());
    const offsetBefore = this.clock.offset;
    const ownProof = !!this.proofKey && !headers.has('dpop');
    if (ownProof) {
      const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
      headers.set('dpop', await dpopProof(await this.proofKey!(), (init.method ?? 'GET').toUpperCase(), url, this.clock));
    }
    let res: Response;
    try {
      res = await fetch(input, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw this.unreachable(err);
    }
    this.takeCookies(res);
    this.clock.observe(res.headers.get('date'));
    const resendable = typeof input !== 'object' || input instanceof URL;
    if (res.status === 401 && ownProof && !retried && resendable && this.clock.movedSince(offsetBefore) && (await errorCode(res)) === 'invalid_proof') {
      return this.send(input, init, true);
    }
    return res;
  }

  /**
   * A JSON request to `path`. Resolves with the parsed body (undefined for 204); rejects with an
   * HttpError for an error answer (see the header for how each reads).
   */
  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await this.fetch(this.baseUrl + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text().catch(() => '');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) return json as T;
    throw errorFor(res, json);
  }

  private takeCookies(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const c = parseSetCookie(line, { decode: asIs });
      if (!c.name) continue;
      const gone = !c.value || (c.maxAge !== undefined && c.maxAge <= 0) || (c.expires !== undefined && c.expires.getTime() <= Date.now());
      if (gone) {
        if (this.cookies.delete(c.name)) this.changed = true;
      } else if (this.cookies.get(c.name) !== c.value) {
        this.cookies.set(c.name, c.value!);
        this.changed = true;
      }
    }
  }

  private unreachable(err: unknown): CliError {
    const e = err as { name?: string; cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return new CliError(`The server at ${this.baseUrl} did not answer within ${formatWait(this.timeoutMs / 1000)}`);
    }
    const why = e.cause?.code ?? e.cause?.message ?? (err instanceof Error ? err.message : String(err));
    return new CliError(`Cannot reach the server at ${this.baseUrl} (${why}). Is it running, and is the URL right?`);
  }
}

/** The `error.code` of an error answer, read from a copy (the caller still reads the body). */
async function errorCode(res: Response): Promise<string | undefined> {
  const json = (await res.clone().json().catch(() => undefined)) as { error?: { code?: unknown } } | undefined;
  return typeof json?.error?.code === 'string' ? json.error.code : undefined;
}

function errorFor(res: Response, json: unknown): HttpError {
  const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? safeText(error.code) : `http_${res.status}`;
  // The server's words reach a terminal: no control or bidi character of theirs acts on it.
  const message = safeText(typeof error?.message === 'string' ? error.message : res.statusText || `HTTP ${res.status}`);
  if (res.status === 429) {
    const retryAfter = Number(res.headers.get('retry-after'));
    const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? `; try again in ${formatWait(retryAfter)}` : '; try again later';
    return new HttpError(`Too many requests${wait}`, 429, code);
  }
  if (res.status === 401) {
    if (code === 'invalid_credentials') return new HttpError('Wrong username or password', 401, code);
    if (code === 'invalid_proof') {
      return new HttpError(`The server refused this device's key (invalid_proof); run relay login`, 401, code, EXIT.signedOut);
    }
    const ended = sessionEnded(message);
    return new HttpError(ended.message, 401, code, EXIT.signedOut);
  }
  return new HttpError(`${message} (${res.status} ${code})`, res.status, code);
}
