/**
 * Operator commands. Passwords are read from standard input, never from arguments (which show up
 * in `ps` and shell history).
 *
 *   npm run cli -- user:create --username alice --password-stdin [--admin] [--display-name "Alice"]
 *   npm run cli -- user:role --username alice --role admin|user
 */
import { parseArgs } from 'node:util';
import { eq } from 'drizzle-orm';
import { role as roleSchema, username as usernameSchema, password as passwordSchema } from '../shared/api.js';
import { ConfigError, loadConfig } from './config.js';
import { connectDatabase } from './db/client.js';
import { runningEmbeddedUrl, startEmbeddedPostgres } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';
import { users } from './db/schema.js';
import { createLogger, describeError } from './logger.js';
import { hashPassword } from './auth/passwords.js';
import { joinDefaultChannel } from './setup/default-channel.js';
import { insertUser } from './users/users.js';
import { AppError } from './errors.js';

/**
 * A refusal to report. Thrown, not exited on the spot, so that the `finally` below still closes
 * the pool and stops the embedded Postgres: process.exit() there would leave it running, orphaned.
 */
class CliFailure extends Error {}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function fail(message: string): never {
  throw new CliFailure(message);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      username: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      admin: { type: 'boolean', default: false },
      'display-name': { type: 'string' },
      role: { type: 'string' },
    },
  });
  if (command !== 'user:create' && command !== 'user:role') {
    fail('usage: cli user:create --username U --password-stdin [--admin] | cli user:role --username U --role admin|user');
  }
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.problems.join('; '));
    throw err;
  }
  const log = createLogger('warn');
  const name = usernameSchema.safeParse(values.username ?? '');
  if (!name.success) fail('--username: 3 to 32 of a-z 0-9 _ . -');

  // Without DATABASE_URL: the embedded Postgres of the server running on this DATA_DIR, or,
  // when none runs, one started for this command alone (and stopped after it).
  const url = config.databaseUrl ?? runningEmbeddedUrl(config.dataDir);
  const embedded = url ? undefined : await startEmbeddedPostgres({ dataDir: config.dataDir, log });
  const database = connectDatabase(url ?? embedded!.url, log, 2);
  try {
    await runMigrations(database.pool);
    if (command === 'user:create') {
      if (!values['password-stdin']) fail('pass the password on standard input with --password-stdin');
      const pw = passwordSchema.safeParse(await readStdin());
      if (!pw.success) fail('password: must be 8 to 128 characters');
      const passwordHash = await hashPassword(pw.data);
      // As the register route does: the account joins the default channel (made with the first
      // account) in the same transaction, so a user made here has a channel to land in too.
      const user = await database.db.transaction(async (tx) => {
        const created = await insertUser(tx, {
          username: name.data,
          passwordHash,
          displayName: values['display-name'],
          role: values.admin ? 'admin' : undefined,
        });
        if (config.defaultChannel) await joinDefaultChannel(tx, config.defaultChannel, created.id);
        return created;
      });
      console.log(`created ${user.role} ${user.username} (${user.id})`);
    } else {
      const r = roleSchema.safeParse(values.role);
      if (!r.success) fail('--role: admin or user');
      const updated = await database.db.update(users).set({ role: r.data }).where(eq(users.username, name.data)).returning();
      if (updated.length === 0) fail(`no user ${name.data}`);
      console.log(`${name.data} is now ${r.data}`);
    }
  } catch (err) {
    if (err instanceof AppError) fail(err.message);
    throw err;
  } finally {
    await database.close();
    await embedded?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`relay: ${err instanceof CliFailure ? err.message : describeError(err).message}`);
  process.exit(1);
});
