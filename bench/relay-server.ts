/**
 * Relay as a benchmark child: the real startServer(loadConfig(env)) in its own process (so the
 * load generator never shares its event loop), plus the same IPC probes the baselines answer
 * (memory after GC, CPU time, on-demand CPU profile). The configuration comes from the
 * environment bench/run.ts passes, exactly as `npm start` would read it.
 */
import { loadConfig } from '../server/config.js';
import { startServer } from '../server/server.js';
import { announceReady } from './common.js';
import { serveServerRpc } from './server-ipc.js';

const config = loadConfig(process.env);
const server = await startServer(config);
serveServerRpc();
announceReady({ port: server.port, url: server.url, path: '/ws' });

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
