/** /api/users: the people a user can talk to (`?q=` search), or named people (`?ids=a,b`). */
import { Router } from 'express';
import { userSearchQuery } from '../../shared/api.js';
import type { AppContext } from '../context.js';
import { endpoint } from '../http/endpoint.js';
import { findUsersByIds, searchUsers } from './users.js';

export function userRoutes(ctx: AppContext): Router {
  const router = Router();
  router.get(
    '/',
    endpoint(ctx, { access: 'session', query: userSearchQuery }, async ({ query }) => {
      const rows = query.ids ? await findUsersByIds(ctx.db, query.ids) : await searchUsers(ctx.db, query.q?.trim() || undefined);
      const online = await ctx.presence.onlineUsers(rows.map((r) => r.id));
      return {
        users: rows.map((u) => ({ id: u.id, username: u.username, displayName: u.displayName, online: online.has(u.id) })),
      };
    }),
  );
  return router;
}
