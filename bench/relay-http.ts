/**
 * A cookie-keeping HTTP client for Relay's REST API (like a command-line client: it keeps the
 * session cookie and the device-fingerprint cookie of its login and sends both on the upgrade),
 * and the setup the benchmark needs: users, a public channel, and their memberships.
 */
import WebSocket from 'ws';

export const BENCH_PASSWORD = 'bench password 12345';

export class RelayHttp {
  readonly cookies = new Map<string, string>();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  auth: any;

  constructor(readonly baseUrl: string) {}

  get origin(): string {
    return new URL(this.baseUrl).origin;
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { origin: this.origin };
    if (this.cookies.size) headers.cookie = this.cookieHeader();
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
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
    return { status: res.status, body: parsed };
  }

  async expect(method: string, path: string, body: unknown, status: number) {
    const res = await this.request(method, path, body);
    if (res.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  static async register(baseUrl: string, username: string): Promise<RelayHttp> {
    const c = new RelayHttp(baseUrl);
    c.auth = await c.expect('POST', '/api/auth/register', { username, password: BENCH_PASSWORD }, 201);
    return c;
  }

  static async login(baseUrl: string, username: string, deviceName = 'bench'): Promise<RelayHttp> {
    const c = new RelayHttp(baseUrl);
    c.auth = await c.expect('POST', '/api/auth/login', { username, password: BENCH_PASSWORD, deviceName }, 200);
    return c;
  }

  /** Opens an authenticated socket (upgrade with cookies and Origin, then the authenticate frame). */
  openSocket(opts: { baseUrl?: string; timeoutMs?: number } = {}): Promise<WebSocket> {
    const base = opts.baseUrl ?? this.baseUrl;
    const origin = new URL(base).origin;
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/ws', {
      headers: { Cookie: this.cookieHeader(), Origin: origin },
      perMessageDeflate: false,
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('authenticate timed out'));
      }, opts.timeoutMs ?? 10_000);
      ws.once('open', () => ws.send(JSON.stringify({ type: 'authenticate', token: this.auth.token })));
      ws.on('message', function first(data) {
        const frame = JSON.parse(data.toString()) as { type: string };
        if (frame.type === 'authenticated') {
          clearTimeout(timer);
          ws.off('message', first);
          resolve(ws);
        }
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`upgrade refused: ${res.statusCode}`));
      });
      ws.once('close', (code, reason) => {
        clearTimeout(timer);
        reject(new Error(`closed before authenticated: ${code} ${reason.toString()}`));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }
}

/** Runs `fn` over items with at most `n` at a time. */
export async function mapLimit<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}
