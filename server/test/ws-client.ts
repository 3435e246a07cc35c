/**
 * A test WebSocket client: real socket, frames collected in order, helpers to wait for a frame
 * or for the close. @example
 * const ws = await openSocket(server, alice);          // cookie of alice's login, no frame sent
 * await ws.authenticate();                             // sends alice's token, awaits `authenticated`
 * ws.send({ type: 'subscribe', channelId });
 * await ws.next('subscribed');
 */
import WebSocket from 'ws';
import type { HttpClient } from './harness.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Frame = Record<string, any> & { type: string };

export class TestSocket {
  readonly frames: Frame[] = [];
  private cursor = 0;
  private waiters: Array<() => void> = [];
  closed?: { code: number; reason: string };
  readonly closedPromise: Promise<{ code: number; reason: string }>;

  constructor(
    readonly ws: WebSocket,
    private readonly owner?: HttpClient,
  ) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.wake();
    });
    this.closedPromise = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closed);
      });
    });
    ws.on('error', () => {});
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits for the next frame (after the ones already taken) of the given type, skipping others. */
  async next(type?: string, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.frames.length) {
        const f = this.frames[this.cursor++];
        if (!type || f.type === type) return f;
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${type ?? 'a frame'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type ?? 'a frame'}; got ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /**
   * Waits for a frame matching `pred` among all received so far or later, skipping none for
   * other waiters: safe for many concurrent waiters on one socket (e.g. by `ref`).
   */
  async find(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    let scanned = 0;
    for (;;) {
      for (; scanned < this.frames.length; scanned++) {
        if (!pred(this.frames[scanned])) continue;
        // `next()` continues after it, as if it had been taken in order.
        this.cursor = Math.max(this.cursor, scanned + 1);
        return this.frames[scanned];
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for a frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a matching frame; got ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** All frames of a type received so far. */
  all(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  async waitClose(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    return Promise.race([
      this.closedPromise,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('socket did not close in time')), timeoutMs)),
    ]);
  }

  async authenticate(token = this.owner?.token): Promise<Frame> {
    this.send({ type: 'authenticate', token });
    return this.next('authenticated');
  }

  close(): void {
    this.ws.close();
  }
}

/** Opens a socket to `${baseUrl}/ws` with the client's cookies and the server's own Origin. */
export function openSocket(
  baseUrl: string,
  client?: HttpClient,
  opts: { origin?: string | null; path?: string; cookie?: string | null } = {},
): Promise<TestSocket> {
  const headers: Record<string, string> = {};
  const origin = opts.origin === undefined ? baseUrl : opts.origin;
  if (origin) headers.origin = origin;
  const cookie = opts.cookie === undefined ? client?.cookieHeader() : opts.cookie;
  if (cookie) headers.cookie = cookie;
  const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + (opts.path ?? '/ws'), { headers, perMessageDeflate: false });
  const socket = new TestSocket(ws, client);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(socket));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

/** Opens and authenticates a socket for a signed-in client. */
export async function connect(baseUrl: string, client: HttpClient): Promise<TestSocket> {
  const s = await openSocket(baseUrl, client);
  await s.authenticate();
  return s;
}
