/** GET /api/setup (public): what a first-run or sign-up screen needs to know. */
import { Router } from 'express';
import { sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import { users } from '../db/schema.js';
import { endpoint } from '../http/endpoint.js';
import { publicRegistration } from './settings.js';

export function setupRoutes(ctx: AppContext): Router {
  const router = Router();
  router.get(
    '/',
    endpoint(ctx, { access: 'public' }, async () => {
      const { rows } = await ctx.db.execute<{ empty: boolean }>(sql`SELECT NOT EXISTS (SELECT 1 FROM ${users}) AS empty`);
      // needsAdmin: nobody has registered yet; the first account is the admin (users.ts).
      return { needsAdmin: rows[0].empty, registration: await publicRegistration(ctx) };
    }),
  );
  return router;
}
