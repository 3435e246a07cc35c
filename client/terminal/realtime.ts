/**
 * The browser's RealtimeClient (client/src/realtime/client.ts), run in Node for the terminal
 * client: the `ws` package carries the login's cookies on the upgrade (the fingerprint cookie
 * must match the token), token requests go through the cookie jar, and the stored device key
 * signs the DPoP proof of every token request and the proof of every authenticate and refresh.
 * No second protocol implementation: reconnects, backoff, resume with sinceSeq and idempotent
 * resends are the RealtimeClient's.
 *
 * @example
 * const rt = terminalRealtime(openSession());
 * rt.on('message', ({ message }) => print(message.body));
 * rt.subscribe(channelId);
 * rt.connect();
 */
import WebSocket from 'ws';
import { RealtimeClient, type RealtimeOptions, type WebSocketConstructor } from '../src/realtime/client.js';
import type { Session } from './session.js';

export function terminalRealtime(session: Session, opts: RealtimeOptions = {}): RealtimeClient {
  const { http } = session;
  class CookieWebSocket extends WebSocket {
    constructor(url: string) {
      // Cookies read per connection: the jar is the login's, kept current by the token requests.
      super(url, { headers: { cookie: http.cookieHeader() } });
      // `ws` emits 'error' (e.g. a socket closed before its handshake) after the client has let
      // go of its handlers; without a listener Node would turn that into a crash. A close follows.
      this.on('error', () => {});
    }
  }
  const debug = process.env.RELAY_DEBUG ? (message: string, detail?: unknown) => process.stderr.write(`relay: ${message} ${detail === undefined ? '' : String(detail)}\n`) : undefined;
  return new RealtimeClient({
    baseUrl: http.baseUrl,
    fetch: http.fetch,
    WebSocket: CookieWebSocket as unknown as WebSocketConstructor,
    proofKey: () => session.proofKey(),
    log: debug,
    ...opts,
  });
}
