/**
 * A cookie-keeping HTTP client, like a browser tab or curl with a cookie jar: it keeps the
 * session and device-fingerprint cookies of its login (and sends them on a WebSocket upgrade).
 * Free of vitest, so the benchmark uses it too.
 */
export interface HttpResult {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export class HttpClient {
  readonly cookies = new Map<string, string>();
  /** The last login/register response: {user, device, token, expiresAt}. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  auth: any;

  /**
   * (POP8) Signs a DPoP proof for each request that does not bring its own `dpop` header, as a
   * bound device's client does: see `proving` in test/pop.ts. Unset: no proof is sent.
   */
  dpop?: (method: string, path: string) => Promise<string>;

  constructor(readonly baseUrl: string) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get userId(): string {
    return this.auth.user.id;
  }
  get deviceId(): string {
    return this.auth.device.id;
  }
  get token(): string {
    return this.auth.token;
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
    const h: Record<string, string> = { ...headers };
    if (this.dpop && !Object.keys(h).some((k) => k.toLowerCase() === 'dpop')) h.dpop = await this.dpop(method, path);
    if (this.cookies.size) h.cookie = this.cookieHeader();
    if (body !== undefined) h['content-type'] ??= 'application/json';
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(sc) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, undefined, headers);
  }
  post(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request('POST', path, body, headers);
  }
  patch(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request('PATCH', path, body, headers);
  }
}
