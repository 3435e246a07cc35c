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
import { parse as parseCookies } from 'cookie';
import proxyAddr from 'proxy-addr';
import { WebSocketServer, type WebSocket } from 'ws';
import { LIMITS } from '../../shared/codes.js';
import { FINGERPRINT_COOKIE } from '../auth/fingerprint.js';
import type { Logger } from '../logger.js';
import type { Gateway } from './gateway.js';

export interface WebSocketAdapter {
  close(): Promise<void>;
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
}

/** Same host as the request, or an exact entry of ALLOWED_ORIGINS. Absent: not a browser. */
export function upgradeOriginAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
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
  const live = new Map<WebSocket, { alive: boolean }>();

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ws') return reject(socket, 400, 'Bad Request');
    if (!upgradeOriginAllowed(req.headers.origin, req.headers.host, opts.allowedOrigins)) {
      log.info({ origin: req.headers.origin }, 'websocket upgrade refused: foreign origin');
      return reject(socket, 403, 'Forbidden');
    }
    const ip = proxyAddr(req, opts.trustProxy);
    if (!gateway.canAcceptFrom(ip)) return reject(socket, 429, 'Too Many Requests');
    const fingerprint = parseCookies(req.headers.cookie ?? '')[FINGERPRINT_COOKIE];
    wss.handleUpgrade(req, socket, head, (ws) => {
      // ws closes an oversized frame with 1009 itself; give that close the contract's reason.
      const close = ws.close.bind(ws);
      ws.close = (code?: number, reason?: string | Buffer) => close(code, reason ?? (code === 1009 ? 'frame_too_big' : undefined));
      const handle = gateway.accept(
        {
          send: (data) => ws.send(data, { binary: false }),
          close: (code, reason) => ws.close(code, reason),
          get bufferedAmount() {
            return ws.bufferedAmount;
          },
        },
        { ip, fingerprint },
      );
      const state = { alive: true };
      live.set(ws, state);
      ws.on('pong', () => {
        state.alive = true;
      });
      ws.on('message', (data, isBinary) => (isBinary ? handle.binary() : handle.message(data.toString())));
      ws.on('error', (err) => log.debug({ err: err.message }, 'websocket error'));
      ws.on('close', () => {
        live.delete(ws);
        handle.closed();
      });
    });
  };
  opts.server.on('upgrade', onUpgrade);

  // One timer for every socket: a peer that missed the previous ping is terminated.
  const heartbeat = setInterval(() => {
    for (const [ws, state] of live) {
      if (!state.alive) {
        ws.terminate();
        continue;
      }
      state.alive = false;
      ws.ping();
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
      for (const ws of live.keys()) ws.terminate();
      wss.close();
    },
  };
}
