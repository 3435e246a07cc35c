/** /api/search: full-text search of the messages the caller may read (search.ts). */
import { Router } from 'express';
import { searchQuery } from '../../shared/api.js';
import type { AppContext } from '../context.js';
import { forbidden } from '../errors.js';
import { endpoint, limitedSession } from '../http/endpoint.js';
import { userLimiter } from '../http/rate-limit.js';
import { loadChannel } from '../messaging/channels.js';
import { channelPolicy } from '../messaging/policy.js';
import { searchMessages } from './search.js';

export function searchRoutes(ctx: AppContext): Router {
  const router = Router();
  // Each search is a full-text query over every readable message: one budget per user, so a
  // script (or a search box without a pause) cannot keep the database busy for everyone. Counted
  // after the session check (limitedSession): a refused request never spends the user's budget.
  const limit = userLimiter({ name: 'search', windowMs: ctx.config.rateLimits.windowMs, limit: ctx.config.rateLimits.searches, redis: ctx.redis });
  router.get(
    '/',
    limitedSession(ctx, limit),
    endpoint(ctx, { access: 'session', query: searchQuery }, async ({ auth, query }) => {
      if (query.channelId) {
        // A missing channel and a private one answer alike (policy.ts): ids cannot be probed.
        const refused = channelPolicy.read(await loadChannel(ctx.db, query.channelId), auth.user.id);
        if (refused) throw forbidden(refused);
      }
      return { results: await searchMessages(ctx, { ...query, userId: auth.user.id }) };
    }),
  );
  return router;
}
