/**
 * The thin `ws` adapter: upgrade checks, the one shared heartbeat timer, and wiring each `ws`
 * socket to the gateway core. Everything the protocol means lives in gateway.ts.
 *
 * Guarantees: an upgrade from a foreign Origin (AUTH1), to another path, or beyond the per-IP
 * cap of unauthenticated sockets is answered with an HTTP error before any WebSocket exists; a
 * token in the URL is ignored (the URL is never parsed for one and never logged); an error on
 * an upgrading socket never reaches the process as an unhandled 'error'.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { parse as parseCookies } from 'cookie';
import proxyAddr from 'proxy-addr';
import { WebSocket, WebSocketServer } from 'ws';
import { LIMITS } from '../../shared/codes.js';
import { FINGERPRINT_COOKIE } from '../auth/fingerprint.js';
import type { Logger } from '../logger.js';
import type { Gateway } from './gateway.js';
import type { ConnectionHandle, GatewaySocket } from './socket.js';

export interface WebSocketAdapter {
  close(): Promise<void>;
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
}

const TEXT = { binary: false } as const;

/**
 * Fan-out frames written to one socket in one turn of the event loop leave in one system call:
 * the first of a turn corks the socket's stream and one setImmediate per turn uncorks every
 * socket corked in it. A fan-out burst (several messages landing in the same turn) then costs
 * each socket one writev instead of one per frame; a lone frame waits only for the end of the
 * current turn. `ws` has no public cork, so this reaches for its stream (`_socket`), the way
 * engine.io reaches for `_sender`. A close frame written in a corked turn leaves with the
 * frames before it; `terminate()` drops them, as it drops everything unsent.
 *
 * Bytes held corked in this turn were not offered to the kernel yet, so they are no sign of a
 * slow reader: `bufferedAmount` leaves them out (FLOW4 judges what the peer did not take).
 */
const corked = new Set<WsSocket>();
function uncorkAll(): void {
  for (const sock of corked) {
    sock.corkedBytes = 0;
    try {
      sock.stream()?.uncork();
    } catch {
      // A stream destroyed meanwhile has nothing to flush; the others must still be uncorked.
    }
  }
  corked.clear();
}
const kSocket = Symbol('relay.socket');
type TaggedWebSocket = WebSocket & { [kSocket]: WsSocket };

/**
 * One per socket, with its methods on the prototype: the per-socket cost is this object and
 * the `ws` instance, not a set of closures.
 */
class WsSocket implements GatewaySocket {
  alive = true;
  /** Bytes written to the stream while it is corked in this turn (see uncorkAll). */
  corkedBytes = 0;
  handle!: ConnectionHandle;
  constructor(
    readonly ws: WebSocket,
    readonly live: Set<WsSocket>,
  ) {}
  stream(): Duplex | undefined {
    return (this.ws as unknown as { _socket?: Duplex })._socket;
  }
  send(data: string | Buffer): void {
    // Fan-out frames (Buffers shared by many sockets) cork the socket for the turn; replies and
    // replays (strings) do not, so a long `since` replay goes out as it is written. A string
    // written while corked still keeps its place.
    if (typeof data !== 'string' && !corked.has(this)) {
      const stream = this.stream();
      if (stream) {
        if (corked.size === 0) setImmediate(uncorkAll);
        stream.cork();
        corked.add(this);
      }
    }
    if (corked.has(this)) this.corkedBytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.ws.send(data, TEXT);
  }
  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
  /** FLOW7: the socket's work queue is full; `ws` stops reading its TCP stream. */
  pause(): void {
    this.ws.pause();
  }
  resume(): void {
    // A pong that arrived while paused is read only now: it gets until the next ping.
    this.alive = true;
    this.ws.resume();
  }
  get bufferedAmount(): number {
    return Math.max(0, this.ws.bufferedAmount - this.corkedBytes);
  }
}

// Listeners shared by every socket (`this` is the ws instance).
function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const { handle } = (this as TaggedWebSocket)[kSocket];
  if (isBinary) handle.binary();
  else handle.message(data.toString());
}
function onPong(this: WebSocket): void {
  (this as TaggedWebSocket)[kSocket].alive = true;
}
function onClose(this: WebSocket): void {
  const sock = (this as TaggedWebSocket)[kSocket];
  sock.live.delete(sock);
  sock.handle.closed();
}
function onError(): void {
  // A 'close' follows every error; the socket's state is settled there.
}
/** ws closes an oversized frame with 1009 itself, without a reason: give it the contract's. */
function closeWithReason(this: WebSocket, code?: number, reason?: string | Buffer): void {
  WebSocket.prototype.close.call(this, code, reason ?? (code === 1009 ? 'frame_too_big' : undefined));
}

/**
 * The app's own origin as this upgrade request sees it: the scheme of the connection (or, from a
 * trusted proxy, X-Forwarded-Proto) and the Host header, exactly as the HTTP CSRF guard computes
 * it from req.protocol.
 */
export function upgradeOwnOrigin(req: http.IncomingMessage, trustProxy: (addr: string, i: number) => boolean): string {
  let proto = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
  const forwarded = req.headers['x-forwarded-proto'];
  if (typeof forwarded === 'string' && trustProxy(req.socket.remoteAddress ?? '', 0)) {
    proto = forwarded.split(',')[0].trim() || proto;
  }
  return `${proto}://${req.headers.host ?? ''}`;
}

/** The app's own origin (scheme and host), or an exact entry of ALLOWED_ORIGINS. Absent: not a browser. */
export function upgradeOriginAllowed(origin: string | undefined, own: string, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  return origin === own || allowed.includes(origin);
}

export function attachWebSocket(opts: {
  server: http.Server;
  gateway: Gateway;
  allowedOrigins: readonly string[];
  /** Express's compiled "trust proxy" function, so the socket's ip matches req.ip. */
  trustProxy: (addr: string, i: number) => boolean;
  heartbeatMs: number;
  log: Logger;
}): WebSocketAdapter {
  const { gateway, log } = opts;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.frameMaxBytes,
    perMessageDeflate: false,
    clientTracking: false,
  });
  const live = new Set<WsSocket>();

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ws') return reject(socket, 400, 'Bad Request');
    if (!upgradeOriginAllowed(req.headers.origin, upgradeOwnOrigin(req, opts.trustProxy), opts.allowedOrigins)) {
      log.info({ origin: req.headers.origin }, 'websocket upgrade refused: foreign origin');
      return reject(socket, 403, 'Forbidden');
    }
    const ip = proxyAddr(req, opts.trustProxy);
    if (!gateway.canAcceptFrom(ip)) return reject(socket, 429, 'Too Many Requests');
    const fingerprint = parseCookies(req.headers.cookie ?? '')[FINGERPRINT_COOKIE];
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.close = closeWithReason;
      const sock = new WsSocket(ws, live);
      (ws as TaggedWebSocket)[kSocket] = sock;
      live.add(sock);
      ws.on('message', onMessage);
      ws.on('pong', onPong);
      ws.on('error', onError);
      ws.on('close', onClose);
      sock.handle = gateway.accept(sock, { ip, fingerprint });
    });
  };
  opts.server.on('upgrade', onUpgrade);

  // One timer for every socket: a peer that missed the previous ping is terminated. A socket
  // paused by back-pressure (FLOW7) is not read, so its pong cannot be seen: it is left alone
  // until its work drains and it is read again.
  const heartbeat = setInterval(() => {
    for (const sock of live) {
      if (sock.ws.isPaused) continue;
      if (!sock.alive) {
        sock.ws.terminate();
        continue;
      }
      sock.alive = false;
      sock.ws.ping();
    }
  }, opts.heartbeatMs);
  heartbeat.unref();

  return {
    async close() {
      opts.server.off('upgrade', onUpgrade);
      clearInterval(heartbeat);
      await gateway.close();
      // Sockets got 1001; give their close handshakes a moment, then cut what is left.
      const deadline = Date.now() + 2_000;
      while (live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const sock of live) sock.ws.terminate();
      wss.close();
    },
  };
}
