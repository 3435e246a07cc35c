#!/usr/bin/env node
// Development: the API server under `tsx watch` (restarts on server/ and shared/ changes) and the
// Vite dev server with hot reload, which proxies /api and /ws to it. Ctrl+C stops both.
//
//   npm run dev                 # app on http://localhost:5173, API on http://localhost:3100
//   RELAY_DEV_PORT=3200 npm run dev
import { spawn } from 'node:child_process';
import path from 'node:path';

const apiPort = process.env.RELAY_DEV_PORT ?? '3100';
const api = `http://localhost:${apiPort}`;
const env = { ...process.env, PORT: apiPort, DATA_DIR: process.env.DATA_DIR ?? './data', RELAY_DEV_API: api };

// The binaries themselves, not npx: a signal to npx does not reach the process it started.
const bin = (name) => path.join('node_modules', '.bin', name);
const children = [
  spawn(bin('tsx'), ['watch', '--clear-screen=false', 'server/main.ts'], { stdio: 'inherit', env }),
  spawn(bin('vite'), ['--host', process.env.VITE_HOST ?? 'localhost'], { stdio: 'inherit', env }),
];

let stopping = false;
function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 2000).unref();
}
for (const c of children) c.on('exit', (code) => stop(code ?? 0));
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
