/**
 * A private Redis Cluster for one test file: three redis-server masters (no replicas) on free
 * ports, their slots assigned by `redis-cli --cluster create`. Real Redis, never a mock.
 *
 * @example
 * const cluster = await startRedisCluster();
 * const client = createCluster({ rootNodes: [{ url: cluster.nodes[0].url }] });
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../db/embedded.js';
import { launchRedisServer } from './redis-server.js';

const run = promisify(execFile);

export interface TestRedisCluster {
  nodes: Array<{ port: number; url: string }>;
  stop(): Promise<void>;
}

/** Starts one cluster-enabled node; resolves once it accepts connections. */
async function launchNode(dir: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const busPort = await freePort(); // explicit (Redis 7): port + 10000 may be taken or out of range
  const child = await launchRedisServer(
    [
      '--port', String(port),
      '--cluster-port', String(busPort),
      '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes',
      '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout', '5000',
      '--dir', dir,
      '--save', '',
      '--appendonly', 'no',
    ],
    'redis-server (cluster)',
  );
  return { port, child };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-test-redis-cluster-'));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(kill));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const nodes: Array<{ port: number; url: string }> = [];
    for (let i = 0; i < 3; i++) {
      // A port taken between freePort() and the bind: try again with others.
      for (let attempt = 1; ; attempt++) {
        try {
          const { port, child } = await launchNode(dir);
          children.push(child);
          nodes.push({ port, url: `redis://127.0.0.1:${port}` });
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    // Every node must agree that all slots are served before a client maps them.
    const deadline = Date.now() + 30_000;
    for (const node of nodes) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(node.port), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok') && stdout.includes('cluster_slots_ok:16384') && stdout.includes('cluster_known_nodes:3')) break;
        if (Date.now() > deadline) throw new Error(`redis cluster not ready: ${stdout}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
