/**
 * Baseline: the smallest useful broadcast server on `ws`, what a user would write by hand.
 * Text frames of JSON: `{"type":"sub"}` joins the one room (answered by `{"type":"subbed"}`),
 * `{"type":"send","body"}` sends `{"type":"message","body"}` to every socket in the room,
 * serialized and encoded once per broadcast. No auth, no storage, no validation beyond JSON.parse.
 *
 * Run by bench/run.ts as a child: listens on 127.0.0.1, an ephemeral port, reports it over IPC.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { announceReady } from './common.js';
import { serveServerRpc } from './server-ipc.js';

const room = new Set<WebSocket>();
const server = http.createServer((_req, res) => {
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let frame: { type?: string; body?: string };
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (frame.type === 'sub') {
      room.add(ws);
      ws.send('{"type":"subbed"}');
    } else if (frame.type === 'send' && typeof frame.body === 'string') {
      // Serialized and UTF-8 encoded once per broadcast (as Relay's hub does), not once per socket:
      // the baseline should be the best a hand-written ws server does, not the naive one.
      const out = Buffer.from(JSON.stringify({ type: 'message', body: frame.body }));
      for (const peer of room) if (peer.readyState === 1) peer.send(out, { binary: false });
    }
  });
  ws.on('close', () => room.delete(ws));
  ws.on('error', () => {});
});

server.listen(0, '127.0.0.1', () => {
  serveServerRpc({ sockets: () => wss.clients.size });
  announceReady({ port: (server.address() as AddressInfo).port, path: '/ws' });
});
process.on('SIGTERM', () => process.exit(0));
