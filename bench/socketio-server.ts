/**
 * The peer a user would pick instead of Relay: Socket.IO 4 with a room. `sub` joins the room
 * (answered by `subbed`), `send(body)` emits `m(body)` to the room (io.to(room).emit, which
 * encodes the packet once per broadcast). WebSocket transport only, no compression (the v4
 * default), default ping settings.
 *
 * Run by bench/run.ts as a child: listens on 127.0.0.1, an ephemeral port, reports it over IPC.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { announceReady } from './common.js';
import { serveServerRpc } from './server-ipc.js';

const server = http.createServer();
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  maxHttpBufferSize: 64 * 1024,
});

io.on('connection', (socket) => {
  socket.on('sub', () => {
    void socket.join('room');
    socket.emit('subbed');
  });
  socket.on('send', (body: unknown) => {
    if (typeof body === 'string') io.to('room').emit('m', body);
  });
});

server.listen(0, '127.0.0.1', () => {
  serveServerRpc({ sockets: () => io.engine.clientsCount });
  announceReady({ port: (server.address() as AddressInfo).port, path: '/socket.io/' });
});
process.on('SIGTERM', () => process.exit(0));
