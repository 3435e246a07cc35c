/**
 * Issue 8 (CONTRACT v2 "Concurrent requests never share state"): many logins at the same moment,
 * right and wrong passwords, several users, unknown and disabled users, interleaved, each get
 * their own answer. A wrong password never receives another request's session, device or token.
 *
 * The logins overlap while argon2 runs on the thread pool, which is where a strategy object
 * shared between requests (passport's success/fail callbacks overwritten by the latest request)
 * hands one login's verdict to another. Run with sessions in Postgres and in Redis, and with two
 * servers in one process on different databases (each must check its own users).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../http/session.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { DEFAULT_PASSWORD, HttpClient, startTestServer, type HttpResult, type TestServer } from '../test/harness.js';
import { FINGERPRINT_COOKIE } from './fingerprint.js';

type Expect = 'ok' | 'invalid_credentials' | 'account_disabled';

interface Attempt {
  label: string;
  username: string;
  password: string;
  /** Unique per attempt: the device a login creates is recognisable as this request's own. */
  deviceName: string;
  expect: Expect;
}

/**
 * A generous bound so that a request that never gets an answer (its callback went to another
 * request) is reported as such instead of hanging the test; a healthy login answers in well
 * under a second.
 */
const ANSWER_DEADLINE_MS = 20_000;

async function loginOnce(server: TestServer, a: Attempt): Promise<{ client: HttpClient; res: HttpResult | 'no answer' }> {
  const client = server.client();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'no answer'>((resolve) => (timer = setTimeout(() => resolve('no answer'), ANSWER_DEADLINE_MS)));
  const res = await Promise.race([
    client.post('/api/auth/login', { username: a.username, password: a.password, deviceName: a.deviceName }),
    deadline,
  ]).finally(() => clearTimeout(timer));
  return { client, res };
}

async function deviceCounts(server: TestServer): Promise<Map<string, number>> {
  const { rows } = await server.ctx.pool.query<{ username: string; n: string }>(
    'SELECT u.username, count(d.id) AS n FROM users u LEFT JOIN devices d ON d.user_id = u.id GROUP BY u.username',
  );
  return new Map(rows.map((r) => [r.username, Number(r.n)]));
}

/** Fires every attempt at once; returns one line per thing that was not this request's own answer. */
async function burst(server: TestServer, attempts: Attempt[]): Promise<string[]> {
  const before = await deviceCounts(server);
  const results = await Promise.all(attempts.map((a) => loginOnce(server, a)));
  const problems: string[] = [];

  for (const [i, a] of attempts.entries()) {
    const { client, res } = results[i];
    const say = (what: string) => problems.push(`${a.label} (${a.username}): ${what}`);
    if (res === 'no answer') {
      say(`no answer within ${ANSWER_DEADLINE_MS} ms`);
      continue;
    }
    if (a.expect === 'ok') {
      if (res.status !== 200) {
        say(`status ${res.status} ${JSON.stringify(res.body)}, expected 200`);
        continue;
      }
      if (res.body.user?.username !== a.username) say(`answered as user ${res.body.user?.username}`);
      if (res.body.device?.name !== a.deviceName) say(`answered with device "${res.body.device?.name}"`);
      const verified = await server.ctx.tokens.verify(res.body.token, client.cookies.get(FINGERPRINT_COOKIE));
      if (!verified.ok) say(`token refused with this client's fingerprint cookie: ${verified.reason}`);
      else if (verified.identity.user.username !== a.username || verified.identity.deviceId !== res.body.device?.id)
        say(`token is for ${verified.identity.user.username}/${verified.identity.deviceId}`);
      const me = await client.get('/api/auth/me');
      if (me.status !== 200) say(`GET /me with its cookies: ${me.status}`);
      else {
        if (me.body.user.username !== a.username) say(`GET /me with its cookies says ${me.body.user.username}`);
        if (me.body.device.id !== res.body.device?.id) say(`GET /me with its cookies names device "${me.body.device.name}"`);
      }
    } else {
      const status = a.expect === 'account_disabled' ? 403 : 401;
      if (res.status !== status || res.body?.error?.code !== a.expect) {
        say(`status ${res.status} ${JSON.stringify(res.body)}, expected ${status} ${a.expect}`);
      }
      if (res.body && typeof res.body === 'object' && 'token' in res.body) say('got a token');
      const cookies = res.headers.getSetCookie().filter((c) => c.startsWith(`${SESSION_COOKIE}=`) || c.startsWith(`${FINGERPRINT_COOKIE}=`));
      if (cookies.length) say(`got cookies ${cookies.map((c) => c.split('=')[0]).join(', ')}`);
      const me = await client.get('/api/auth/me');
      if (me.status !== 401) say(`GET /me with its cookies: ${me.status} as ${me.body?.user?.username}`);
    }
  }

  // Exactly one new device per successful login, for its own user; none for the others.
  const after = await deviceCounts(server);
  for (const [username, n] of after) {
    const expected = (before.get(username) ?? 0) + attempts.filter((a) => a.expect === 'ok' && a.username === username).length;
    if (n !== expected) problems.push(`${username}: ${n} devices, expected ${expected}`);
  }
  const { rows: strays } = await server.ctx.pool.query<{ name: string }>('SELECT name FROM devices WHERE name = ANY($1::text[])', [
    attempts.filter((a) => a.expect !== 'ok').map((a) => a.deviceName),
  ]);
  for (const { name } of strays) problems.push(`a failed login's device "${name}" was created`);
  return problems;
}

const modes = [
  { mode: 'Postgres sessions', useRedis: false },
  { mode: 'Redis sessions', useRedis: true },
];

describe.each(modes)('simultaneous logins with $mode', ({ useRedis }) => {
  let redis: TestRedis | undefined;
  let server: TestServer;
  const users = ['ann', 'ben', 'cat', 'dan'];
  const disabledUser = 'eve';

  beforeAll(async () => {
    if (useRedis) redis = await startRedis();
    server = await startTestServer({ env: { REDIS_URL: redis?.url } });
    for (const u of users) await server.register(u);
    await server.register(disabledUser);
    await server.ctx.pool.query('UPDATE users SET disabled = true WHERE username = $1', [disabledUser]);
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it('gives each of 40 interleaved logins its own answer, and a failed one nothing', async () => {
    const attempts: Attempt[] = [];
    for (let i = 0; i < 40; i++) {
      const user = users[i % users.length];
      const base = { label: `#${i}`, deviceName: `race-${useRedis ? 'r' : 'p'}-${i}` };
      switch (i % 5) {
        case 0:
        case 2:
          attempts.push({ ...base, username: user, password: DEFAULT_PASSWORD, expect: 'ok' });
          break;
        case 1:
          attempts.push({ ...base, username: user, password: `${DEFAULT_PASSWORD} wrong ${i}`, expect: 'invalid_credentials' });
          break;
        case 3:
          attempts.push({ ...base, username: `nobody${i}`, password: DEFAULT_PASSWORD, expect: 'invalid_credentials' });
          break;
        case 4:
          attempts.push(
            i % 2
              ? { ...base, username: disabledUser, password: DEFAULT_PASSWORD, expect: 'account_disabled' }
              : { ...base, username: disabledUser, password: `not it ${i}`, expect: 'invalid_credentials' },
          );
          break;
      }
    }
    expect(await burst(server, attempts)).toEqual([]);
  }, 120_000);
});

describe('simultaneous logins on two servers in one process', () => {
  let a: TestServer;
  let b: TestServer;
  const onlyA = ['amy', 'abe'];
  const onlyB = ['bea', 'bob'];
  // The same name on both, with a different password on each.
  const shared = 'sam';
  const samPassword = { a: 'sam password on server a', b: 'sam password on server b' };

  beforeAll(async () => {
    [a, b] = await Promise.all([startTestServer(), startTestServer()]);
    for (const u of onlyA) await a.register(u);
    for (const u of onlyB) await b.register(u);
    await a.register(shared, samPassword.a);
    await b.register(shared, samPassword.b);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('checks each login against its own server’s users', async () => {
    const plan = (own: string[], other: string[], mine: string, theirs: string, tag: string): Attempt[] => {
      const out: Attempt[] = [];
      for (let i = 0; i < 20; i++) {
        const base = { label: `${tag}#${i}`, deviceName: `two-${tag}-${i}` };
        switch (i % 4) {
          case 0:
            out.push({ ...base, username: own[i % own.length], password: DEFAULT_PASSWORD, expect: 'ok' });
            break;
          case 1:
            out.push({ ...base, username: other[i % other.length], password: DEFAULT_PASSWORD, expect: 'invalid_credentials' });
            break;
          case 2:
            out.push({ ...base, username: shared, password: mine, expect: 'ok' });
            break;
          case 3:
            out.push({ ...base, username: shared, password: theirs, expect: 'invalid_credentials' });
            break;
        }
      }
      return out;
    };
    const [problemsA, problemsB] = await Promise.all([
      burst(a, plan(onlyA, onlyB, samPassword.a, samPassword.b, 'A')),
      burst(b, plan(onlyB, onlyA, samPassword.b, samPassword.a, 'B')),
    ]);
    expect([...problemsA, ...problemsB]).toEqual([]);
  }, 120_000);
});
