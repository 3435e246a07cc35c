import { describe, expect, it } from 'vitest';
import { afterAll, beforeAll } from 'vitest';
import { startTestServer, type TestServer } from './test/harness.js';
import { createLogger, describeError, mask } from './logger.js';

describe('log hygiene', () => {
  it('masks secrets to their first 6 characters', () => {
    expect(mask('eyJhbGciOiJIUzI1NiJ9.payload.sig')).toBe('eyJhbG…');
    expect(mask(undefined)).toBe('');
  });

  it('describeError keeps the driver message and SQL of a failed drizzle query, never its params', () => {
    const cause = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    const err = Object.assign(new Error('Failed query: insert into "users" values ($1, $2)\nparams: alice,$argon2id$v=19$m=19456$secret'), {
      name: 'DrizzleQueryError',
      query: 'insert into "users" values ($1, $2)',
      params: ['alice', '$argon2id$v=19$m=19456$secret'],
      cause,
    });
    const safe = describeError(err);
    expect(JSON.stringify(safe)).not.toContain('argon2id');
    expect(safe).toMatchObject({ message: cause.message, code: '23505', query: 'insert into "users" values ($1, $2)' });
  });
});

describe('a failing query during register (the users insert fails)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    // Stand-in for a disk-full or dropped-connection failure on the insert itself.
    await server.ctx.pool.query(`CREATE FUNCTION fail_insert() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql`);
    await server.ctx.pool.query('CREATE TRIGGER fail_users BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION fail_insert()');
  });
  afterAll(() => server?.close());

  it('answers a generic 500 and logs neither the password nor its hash', async () => {
    const res = await server.client().post('/api/auth/register', { username: 'victim', password: 'correct horse battery' });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'internal_error', message: 'Something went wrong' } });
    const logs = server.logs.join('\n');
    expect(logs).toContain('disk full');
    expect(logs).not.toContain('$argon2id');
    expect(logs).not.toContain('correct horse battery');
  });
});

describe('redaction', () => {
  const SECRET = 'Zq9sensitivevalue';
  const logged = (obj: Record<string, unknown>) => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (line: string) => lines.push(line) });
    log.info(obj, 'probe');
    return lines.join('');
  };

  it.each<[string, Record<string, unknown>]>([
    ['request cookie', { req: { headers: { cookie: `relay.sid=${SECRET}` } } }],
    ['request authorization', { req: { headers: { authorization: `Bearer ${SECRET}` } } }],
    ['response set-cookie', { res: { headers: { 'set-cookie': [`relay.sid=${SECRET}`] } } }],
    ['bare set-cookie header', { headers: { 'set-cookie': [`relay_fp=${SECRET}`] } }],
    ['upgrade request headers', { upgrade: { headers: { cookie: `relay_fp=${SECRET}`, authorization: SECRET } } }],
    ['error headers', { err: { headers: { 'set-cookie': [`relay.sid=${SECRET}`] } } }],
    ['a user row', { user: { id: 'u1', passwordHash: `$argon2id$${SECRET}` } }],
    ['a token', { token: SECRET, body: { token: SECRET, password: SECRET } }],
  ])('keeps a secret out of the line: %s', (_name, obj) => {
    const line = logged(obj);
    expect(line).toContain('probe');
    expect(line).not.toContain(SECRET);
  });
});
