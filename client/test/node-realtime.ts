/**
 * Test helpers: a RealtimeClient that runs in Node against a real test server, authenticated the
 * way a command-line client is (the session and fingerprint cookies of a login on the token
 * request and on the WebSocket upgrade), with every frame it writes recorded per connection.
 */
import WebSocket from 'ws';
import type { HttpClient } from '../../server/test/harness.js';
import { RealtimeClient, type RealtimeEvents, type RealtimeOptions, type WebSocketConstructor } from '../src/realtime/client.js';

export interface Recorder {
  /** Frames written, one array per socket, in order. */
  sockets: Array<Array<Record<string, unknown>>>;
  /** Drop incoming frames for which this returns true (simulates a lost frame). */
  dropIncoming?: (frame: Record<string, unknown>, socketIndex: number) => boolean;
}

export function nodeRealtime(baseUrl: string, http: HttpClient, opts: RealtimeOptions = {}): { rt: RealtimeClient; rec: Recorder } {
  const rec: Recorder = { sockets: [] };
  class CookieWebSocket extends WebSocket {
    constructor(url: string) {
      super(url, { headers: { cookie: http.cookieHeader() } });
      // `ws` may emit 'error' after the client has let go of the socket (its handlers cleared);
      // unheard, that would crash the test process. The close that follows is what counts.
      this.on('error', () => {});
      const index = rec.sockets.push([]) - 1;
      const send = this.send.bind(this);
      this.send = ((data: string) => {
        rec.sockets[index].push(JSON.parse(data));
        send(data);
      }) as typeof this.send;
      // Wrap the onmessage setter so tests can lose chosen frames on the way in.
      let handler: ((ev: { data: unknown }) => void) | null = null;
      Object.defineProperty(this, 'onmessage', {
        configurable: true,
        get: () => handler,
        set: (fn: ((ev: { data: unknown }) => void) | null) => {
          handler = fn;
        },
      });
      this.on('message', (data, isBinary) => {
        const text = isBinary ? data : data.toString();
        if (rec.dropIncoming) {
          try {
            if (rec.dropIncoming(JSON.parse(String(text)), index)) return;
          } catch {
            /* not JSON: deliver */
          }
        }
        handler?.({ data: text });
      });
    }
  }
  const rt = new RealtimeClient({
    baseUrl,
    WebSocket: CookieWebSocket as unknown as WebSocketConstructor,
    fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), cookie: http.cookieHeader() } }),
    ...opts,
  });
  return { rt, rec };
}

/** Resolves with the next event of that kind that satisfies `match`. */
export function nextEvent<K extends keyof RealtimeEvents>(
  rt: RealtimeClient,
  event: K,
  match: (p: RealtimeEvents[K]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<RealtimeEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${event}`));
    }, timeoutMs);
    const off = rt.on(event, (p) => {
      if (!match(p)) return;
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

export function waitForState(rt: RealtimeClient, state: string, timeoutMs = 10_000): Promise<void> {
  if (rt.getStatus().state === state) return Promise.resolve();
  return nextEvent(rt, 'status', (s) => s.state === state, timeoutMs).then(() => undefined);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
