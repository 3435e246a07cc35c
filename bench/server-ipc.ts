/**
 * What every benchmarked server process answers over IPC, identically for raw ws, Socket.IO and
 * Relay: memory after a full GC, CPU time used so far, and an on-demand CPU profile (node:inspector)
 * so a profile covers exactly one measured phase.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import v8 from 'node:v8';
import { serveRpc, type Handlers } from './common.js';

declare const gc: undefined | (() => void);

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

async function settledMemory(): Promise<MemorySample> {
  // Several collections with pauses so weak/finalised native memory is released too.
  for (let i = 0; i < 3; i++) {
    if (typeof gc === 'function') gc();
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

export function serveServerRpc(extra: Handlers = {}): void {
  let session: Session | undefined;
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) => session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));

  serveRpc({
    memory: () => settledMemory(),
    cpu: () => {
      const u = process.cpuUsage();
      return { userUs: u.user, systemUs: u.system, at: performance.now() };
    },
    profileStart: async () => {
      session = new Session();
      session.connect();
      await post('Profiler.enable');
      await post('Profiler.setSamplingInterval', { interval: 200 });
      await post('Profiler.start');
      return true;
    },
    profileStop: async (args: { file: string }) => {
      if (!session) throw new Error('no profile running');
      const { profile } = await post('Profiler.stop');
      session.disconnect();
      session = undefined;
      writeFileSync(args.file, JSON.stringify(profile));
      return args.file;
    },
    heapSnapshot: (args: { file: string }) => v8.writeHeapSnapshot(args.file),
    ...extra,
  });
}
