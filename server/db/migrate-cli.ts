/** `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded database). */
import { ConfigError, loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { connectDatabase } from './client.js';
import { startEmbeddedPostgres } from './embedded.js';
import { runMigrations } from './migrate.js';

try {
  const config = loadConfig(process.env);
  const log = createLogger('info');
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres({ dataDir: config.dataDir, log });
  const database = connectDatabase(config.databaseUrl ?? embedded!.url, log, 1);
  try {
    await runMigrations(database.pool);
    log.info('migrations applied');
  } finally {
    await database.close();
    await embedded?.stop();
  }
} catch (err) {
  console.error(`relay: ${err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message}`);
  process.exit(1);
}
