/**
 * The terminal client as a person runs it: `relay …` child processes (RELAY_CONFIG_DIR in a temp
 * directory) against a real server on port 0, real Postgres, real sockets. Another user talks to
 * it through the HTTP harness and a raw WebSocket; an admin revokes it over HTTP.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopProof } from '../../shared/proofs.js';
import { freePort } from '../../server/db/embedded.js';
import { startTestServer, type HttpClient, type TestServer } from '../../server/test/harness.js';
import { deviceKey } from '../../server/test/pop.js';
import { connect, openSocket, type TestSocket } from '../../server/test/ws-client.js';
import { killRelays, relayEnv, runRelay, spawnRelay } from '../test/relay-cli.js';
import { proofKeyFrom } from './device-key.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const freshDir = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'relay-cli-cfg-')), 'relay');
const storedLogin = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'login.json'), 'utf8'));
const LIVE = /waiting for new messages/;
/** Carol's password: unique, so finding it in `ps` could only mean this client leaked it. */
const PASSWORD = `cli pw ${randomBytes(8).toString('hex')}`;

describe('relay, the terminal client', () => {
  let server: TestServer;
  let admin: HttpClient;
  let carol: HttpClient; // the CLI's user, signed in elsewhere too (a browser, say)
  let bob: HttpClient;
  let bobSocket: TestSocket;
  let general: { id: string };
  const dir = freshDir();
  const login = (extra: string[] = []) =>
    runRelay(dir, ['login', '--server', server.url, '--username', 'carol', ...extra], { stdin: `${PASSWORD}\n` });

  beforeAll(async () => {
    server = await startTestServer();
    admin = await server.register('admin'); // the first account: an admin
    carol = await server.register('carol', PASSWORD);
    bob = await server.register('bob');
    general = (await admin.post('/api/channels', { name: 'general', kind: 'public' })).body.channel;
    await admin.post('/api/channels', { name: 'random', kind: 'public' });
    for (const c of [carol, bob]) expect((await c.post(`/api/channels/${general.id}/join`)).status).toBe(200);
    bobSocket = await connect(server.url, bob);
  });

  afterAll(async () => {
    killRelays();
    bobSocket?.close();
    await server?.close();
  });

  async function bobSays(body: string): Promise<{ id: string; seq: number }> {
    const clientMsgId = `b-${Math.random()}`;
    bobSocket.send({ type: 'send', channelId: general.id, clientMsgId, body });
    return (await bobSocket.find((f) => f.type === 'ack' && f.clientMsgId === clientMsgId)).message;
  }

  it('npm run relay -- help prints the usage', async () => {
    const out = execFileSync('npm', ['run', '--silent', 'relay', '--', 'help'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toMatch(/relay login \[--server URL\]/);
    expect(out).toMatch(/relay tail/);
    expect(out).toMatch(/Prefer - \(read the text from stdin\)[^]*visible to every user in ps/);
  });

  it('says so when nobody is logged in (exit 3)', async () => {
    const r = await runRelay(freshDir(), ['channels']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/Not logged in; run relay login/);
  });

  it('logs in with the password on stdin: never in argv, a 0600 file in a 0700 directory, a bound device', async () => {
    const p = spawnRelay(dir, ['login', '--server', server.url, '--username', 'carol'], { stdin: 'pipe' });
    // The process is up and waiting for the password: nothing of it is visible to others.
    const cmdline = readFileSync(`/proc/${p.child.pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('login');
    expect(cmdline).not.toContain(PASSWORD);
    expect(readFileSync(`/proc/${p.child.pid}/environ`, 'utf8')).not.toContain(PASSWORD);
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(PASSWORD);
    p.child.stdin!.end(`${PASSWORD}\n`);
    expect((await p.waitExit()).code).toBe(0);
    expect(p.stdout()).toMatch(/Logged in to .* as carol\./);
    expect(p.stdout()).toMatch(/bound to a key/);
    expect(p.stdout() + p.stderr()).not.toContain(PASSWORD);

    const file = path.join(dir, 'login.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(PASSWORD);
    const stored = JSON.parse(text);
    expect(stored.server).toBe(server.url);
    expect(Object.keys(stored.cookies).sort()).toEqual(['relay.sid', 'relay_fp']);
    expect(stored.deviceKey).toMatchObject({ kty: 'EC', crv: 'P-256', d: expect.any(String) });

    const { devices } = (await carol.get('/api/devices')).body;
    const mine = devices.find((d: { id: string }) => d.id === stored.deviceId);
    expect(mine).toMatchObject({ bound: true, name: `relay CLI on ${os.hostname()}`, revokedAt: null });
    expect(server.logs.join('')).not.toContain(PASSWORD);
  });

  it('logs in at a terminal: the username is asked, the password prompt does not echo', async () => {
    // util-linux `script` gives the client a real pseudo-terminal; we type into it.
    const other = freshDir();
    const cmd = `${process.execPath} --import tsx client/terminal/main.ts login --server ${server.url}`;
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, env: relayEnv(other, { TERM: 'dumb' }) });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const shows = (pattern: RegExp) => expect.poll(() => screen, { timeout: 15_000 }).toMatch(pattern);
    await shows(/Username: /);
    child.stdin.write('carol\r');
    await shows(/Password: /);
    child.stdin.write(`${PASSWORD}\r`);
    await shows(/Logged in to .* as carol\./);
    child.stdin.end();
    expect(await exited).toBe(0);
    expect(screen).not.toContain(PASSWORD);
    expect(statSync(path.join(other, 'login.json')).mode & 0o777).toBe(0o600);
    expect((await runRelay(other, ['logout'])).code).toBe(0);
  });

  it('refuses a login file others can read, like ssh, without using it', async () => {
    const file = path.join(dir, 'login.json');
    chmodSync(file, 0o644);
    try {
      const r = await runRelay(dir, ['channels']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Permissions 0644 for .*login\.json are too open/);
      expect(r.stderr).toMatch(/chmod 600/);
    } finally {
      chmodSync(file, 0o600);
    }
  });

  it('lists channels with kind and unread; joins a public one', async () => {
    await bobSays('hi carol');
    const r = await runRelay(dir, ['channels']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^CHANNEL\s+KIND\s+UNREAD\s+ID$/m);
    expect(r.stdout).toMatch(new RegExp(`^#general\\s+public\\s+1\\s+${general.id}$`, 'm'));
    expect(r.stdout).toMatch(/^#random\s+public\s+not joined\s/m);

    expect((await runRelay(dir, ['join', '#random'])).stdout).toMatch(/Joined #random/);
    const json = JSON.parse((await runRelay(dir, ['channels', '--json'])).stdout);
    const byName = Object.fromEntries(json.channels.map((c: { name: string }) => [c.name, c]));
    expect(byName.general.unread).toBe(1);
    expect(byName.random.unread).toBe(0);
  });

  it('sends by name and prints the seq; the same --id again makes no second message; - reads stdin', async () => {
    const r = await runRelay(dir, ['send', 'general', 'hello', 'from', 'the', 'terminal']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const seq = Number(r.stdout.match(/^Sent to #general \(seq (\d+)\)\.$/m)?.[1]);
    expect(seq).toBeGreaterThan(0);

    const once = ['send', '--json', '--id', 'carol-once-1', general.id, 'only once'];
    const first = JSON.parse((await runRelay(dir, once)).stdout);
    const again = JSON.parse((await runRelay(dir, once)).stdout);
    expect(again).toEqual(first);
    expect(first).toMatchObject({ channelId: general.id, clientMsgId: 'carol-once-1', seq: expect.any(Number) });

    const piped = await runRelay(dir, ['send', '#general', '-'], { stdin: 'two\nlines\n' });
    expect(piped.code).toBe(0);

    const { messages } = (await bob.get(`/api/channels/${general.id}/messages`)).body;
    const bodies = messages.map((m: { body: string }) => m.body);
    expect(bodies.filter((b: string) => b === 'only once')).toHaveLength(1);
    expect(bodies).toContain('two\nlines');
    const sent = messages.find((m: { seq: number }) => m.seq === seq);
    expect(sent).toMatchObject({ body: 'hello from the terminal', senderId: carol.userId });
  });

  it('tails: history, then another user\'s message, edit and deletion live; Ctrl-C exits 0', async () => {
    const tail = spawnRelay(dir, ['tail', 'general']);
    await tail.waitFor('stderr', LIVE);
    expect(tail.stdout()).toMatch(/^\[#\d+ [\d:-\s]+\] carol: hello from the terminal$/m);
    expect(tail.stdout()).toMatch(/^\[#\d+ [\d:-\s]+\] bob: hi carol$/m);

    const m = await bobSays('live from bob');
    await tail.waitFor('stdout', new RegExp(`^\\[#${m.seq} [\\d:-\\s]+\\] bob: live from bob$`, 'm'));
    bobSocket.send({ type: 'edit', channelId: general.id, messageId: m.id, body: 'live from bob (fixed)', ref: 'e1' });
    await tail.waitFor('stdout', new RegExp(`^\\[#${m.seq} edited [\\d:-\\s]+\\] bob: live from bob \\(fixed\\)$`, 'm'));
    bobSocket.send({ type: 'delete', channelId: general.id, messageId: m.id, ref: 'd1' });
    await tail.waitFor('stdout', new RegExp(`^\\[#${m.seq} deleted\\] bob's message was deleted$`, 'm'));
    // Control and bidi characters in another user's text never reach the terminal as such.
    const hostile = await bobSays('x\u001b[2Jy\u009b31m\u202eevil\u2066z');
    await tail.waitFor('stdout', new RegExp(`^\\[#${hostile.seq} [\\d:-\\s]+\\] bob: x\uFFFD\\[2Jy\uFFFD31m\uFFFDevil\uFFFDz$`, 'm'));
    expect(tail.stdout()).not.toMatch(/[\u001b\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);

    tail.child.kill('SIGINT');
    expect((await tail.waitExit()).code).toBe(0);
  });

  it('tail --json gives one event per line', async () => {
    const tail = spawnRelay(dir, ['tail', '--json', '--history', '0', 'general']);
    await tail.waitFor('stderr', LIVE);
    const body = 'json line \u009b31m\u202eevil\u2069';
    const m = await bobSays(body);
    await tail.waitFor('stdout', new RegExp(`"seq":${m.seq}`));
    // C1 and bidi characters are \\u escapes in the output: the same JSON, inert on a terminal.
    expect(tail.stdout()).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(tail.stdout()).toContain('\\u009b31m\\u202eevil\\u2069');
    const lines = tail.stdout().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.every((l) => l.type === 'message' && l.message.channelId === general.id)).toBe(true);
    expect(lines.find((l) => l.message.seq === m.seq).message.body).toBe(body);
    tail.child.kill('SIGINT');
    expect((await tail.waitExit()).code).toBe(0);
  });

  it('lists devices, marking this one and bound; revokes another by id prefix', async () => {
    const r = await runRelay(dir, ['devices']);
    expect(r.code).toBe(0);
    const me = storedLogin(dir).deviceId;
    expect(r.stdout).toMatch(new RegExp(`^\\*\\s+${me}\\s+relay CLI on .*\\s+bound\\s`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^\\s+${carol.deviceId}\\s+.*\\s+unbound\\s`, 'm'));

    const other = await server.login('carol', PASSWORD, { deviceName: 'old laptop' });
    const rv = await runRelay(dir, ['revoke', other.deviceId.slice(0, 8)]);
    expect(rv.stderr).toBe('');
    expect(rv.stdout).toMatch(/Signed out "old laptop"/);
    expect((await other.get('/api/auth/me')).status).toBe(401);
  });

  it('an admin revokes the device: tail exits 3 with a clear message; later commands say the session ended', async () => {
    const tail = spawnRelay(dir, ['tail', 'general']);
    await tail.waitFor('stderr', LIVE);
    const deviceId = storedLogin(dir).deviceId;
    expect((await admin.post(`/api/admin/devices/${deviceId}/revoke`)).status).toBe(200);
    expect((await tail.waitExit()).code).toBe(3);
    expect(tail.stderr()).toMatch(/An administrator signed this device out\. \(revoked_by_admin\); run relay login/);

    const r = await runRelay(dir, ['channels']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/session has ended.*run relay login/);
  });

  it('the stored cookies without the device key get no token, and a token without it no socket', async () => {
    expect((await login()).code).toBe(0);
    const stored = storedLogin(dir);
    const thief = server.client();
    for (const [k, v] of Object.entries(stored.cookies as Record<string, string>)) thief.cookies.set(k, v);
    const url = `${server.url}/api/auth/token`;

    const bare = await thief.post('/api/auth/token');
    expect(bare.status).toBe(401);
    expect(bare.body.error.code).toBe('invalid_proof');
    // POP8: nor any other session request: no reading, no signing the device out.
    for (const res of [await thief.get('/api/channels'), await thief.get('/api/devices'), await thief.post('/api/auth/logout')]) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_proof');
    }
    const otherKey = await deviceKey();
    const forged = await thief.post('/api/auth/token', undefined, { dpop: await otherKey.dpop(url) });
    expect(forged.status).toBe(401);
    expect(forged.body.error.code).toBe('invalid_proof');

    // A token the real device obtained (the file's key signs here), presented with another key's proof.
    const key = await proofKeyFrom(stored.deviceKey);
    const granted = await thief.post('/api/auth/token', undefined, { dpop: await dpopProof(key, 'POST', url) });
    expect(granted.status).toBe(200);
    const s = await openSocket(server.url, thief);
    const { nonce } = await s.next('challenge');
    s.send({ type: 'authenticate', token: granted.body.token, proof: await otherKey.socketProof(nonce, granted.body.token) });
    expect(await s.waitClose()).toEqual({ code: 4401, reason: 'invalid_proof' });

    // The client itself, holding the key, still works: its HTTP requests prove it too (POP8).
    expect((await runRelay(dir, ['send', 'general', 'still me'])).code).toBe(0);
    const devices = await runRelay(dir, ['devices']);
    expect(devices.code).toBe(0);
    expect(devices.stdout).toContain(stored.deviceId.slice(0, 8));
  });

  it('logging in again signs the previous login out, proving its key (POP8)', async () => {
    const previous = storedLogin(dir).deviceId;
    const r = await login(['--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).signedOutDeviceId).toBe(previous);
    const { rows } = await server.ctx.pool.query('SELECT revoked_at FROM devices WHERE id = $1', [previous]);
    expect(rows[0].revoked_at).not.toBeNull();
  });

  it('logout signs the device out on the server, then deletes the stored login', async () => {
    const deviceId = storedLogin(dir).deviceId;
    const r = await runRelay(dir, ['logout']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(path.join(dir, 'login.json'))).toBe(false);
    const device = (await carol.get('/api/devices')).body.devices.find((d: { id: string }) => d.id === deviceId);
    expect(device.revokedAt).not.toBeNull();
    expect((await runRelay(dir, ['channels'])).code).toBe(3);
  });

  it('reports a wrong password and an unreachable server plainly (exit 1), writing nothing', async () => {
    const other = freshDir();
    const wrong = await runRelay(other, ['login', '--server', server.url, '--username', 'carol'], { stdin: 'not the password\n' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/Wrong username or password/);
    const port = await freePort();
    const down = await runRelay(other, ['login', '--server', `http://127.0.0.1:${port}`, '--username', 'carol'], { stdin: 'whatever pw\n' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(new RegExp(`Cannot reach the server at http://127.0.0.1:${port} \\(ECONNREFUSED\\)`));
    expect(existsSync(path.join(other, 'login.json'))).toBe(false);
  });

  it('refuses a password in argv: --password is not an option', async () => {
    const r = await runRelay(freshDir(), ['login', '--server', server.url, '--username', 'carol', '--password', 'in argv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--password'/);
  });
});

describe('relay login when rate limited', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { LOGIN_RATE_LIMIT_PER_IP: '2', LOGIN_RATE_LIMIT_PER_USERNAME: '2' } });
    await server.register('dave');
  });
  afterAll(async () => {
    killRelays();
    await server?.close();
  });

  it('says how long to wait', async () => {
    const dir = freshDir();
    const attempt = () => runRelay(dir, ['login', '--server', server.url, '--username', 'dave'], { stdin: 'wrong password\n' });
    let r = await attempt();
    for (let i = 0; i < 5 && !/Too many/.test(r.stderr); i++) r = await attempt();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Too many requests; try again in \d+ (s|min)/);
  });
});
