/**
 * A cookie-keeping HTTP client for Relay's REST API (like a command-line client: it keeps the
 * session cookie and the device-fingerprint cookie of its login and sends both on the upgrade),
 * and the setup the benchmark needs: users, a public channel, and their memberships.
 */
import WebSocket from 'ws';
import { HttpClient, type HttpResult } from '../server/test/http-client.js';

export const BENCH_PASSWORD = 'bench password 12345';

export class RelayHttp extends HttpClient {
  get origin(): string {
    return new URL(this.baseUrl).origin;
  }

  override request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
    // Like a browser on the app's own page: state-changing requests carry the app's Origin.
    return super.request(method, path, body, { origin: this.origin, ...headers });
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
