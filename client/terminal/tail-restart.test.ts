/**
 * `relay tail` through a server restart (the real entry point, SIGTERM, the same port and
 * database): the browser's RealtimeClient inside it reconnects with backoff and resumes with
 * sinceSeq, so every message shows once, in seq order, none lost, none repeated.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DEFAULT_PASSWORD } from '../../server/test/harness.js';
import { baseServerEnv, killSpawned, registerAt, spawnServer, type ServerProcess } from '../../server/test/process.js';
import { connect, type TestSocket } from '../../server/test/ws-client.js';
import { killRelays, runRelay, spawnRelay } from '../test/relay-cli.js';

const procs: ServerProcess[] = [];
const sockets: TestSocket[] = [];

afterAll(async () => {
  killRelays();
  for (const s of sockets) s.ws.terminate();
  await Promise.all(procs.map((p) => p.killAll()));
  await killSpawned();
});

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const p = await spawnServer(env);
  procs.push(p);
  return p;
}

describe('relay tail across a server restart', () => {
  it('reconnects, resumes with sinceSeq, and prints every message once in order', async () => {
    const env = { ...baseServerEnv(), DATABASE_URL: await createTestDatabase(), DEFAULT_CHANNEL: 'none' };
    let server = await start(env);
    const alice = await registerAt(server.url, 'alice');
    await registerAt(server.url, 'bob');
    const channelId = (await alice.post('/api/channels', { name: 'general', kind: 'public' })).body.channel.id as string;

    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'relay-cli-cfg-')), 'relay');
    const login = await runRelay(dir, ['login', '--server', server.url, '--username', 'bob'], { stdin: `${DEFAULT_PASSWORD}\n` });
    expect(login.code, login.stderr).toBe(0);
    expect((await runRelay(dir, ['join', 'general'])).code).toBe(0);

    const say = async (body: string) => {
      const s = await connect(server.url, alice);
      sockets.push(s);
      s.send({ type: 'send', channelId, clientMsgId: body, body });
      const { message } = await s.find((f) => f.type === 'ack' && f.clientMsgId === body);
      s.close();
      return message as { seq: number };
    };

    const tail = spawnRelay(dir, ['tail', 'general']);
    await tail.waitFor('stderr', /waiting for new messages/);
    await say('before the restart');
    await tail.waitFor('stdout', /alice: before the restart$/m);

    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    await tail.waitFor('stderr', /connection lost \(1001 going_away\); reconnecting/);
    server = await start({ ...env, PORT: String(server.port) });
    // Most likely sent while the tail is still waiting out its backoff (then it comes as a
    // replay); either way it must show exactly once.
    await say('right after the restart');
    await tail.waitFor('stderr', /-- reconnected --/, 30_000);
    await say('after the reconnect');
    await tail.waitFor('stdout', /alice: after the reconnect$/m, 30_000);

    const lines = tail.stdout().trim().split('\n');
    const bodies = lines.map((l) => l.replace(/^\[#\d+ [^\]]+\] alice: /, ''));
    expect(bodies).toEqual(['before the restart', 'right after the restart', 'after the reconnect']);
    const seqs = lines.map((l) => Number(l.match(/^\[#(\d+) /)![1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    tail.child.kill('SIGINT');
    expect((await tail.waitExit()).code).toBe(0);
  });
});
