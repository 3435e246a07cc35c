/** /api/channels and /api/direct: channels, membership and message history. */
import { Router, type RequestHandler } from 'express';
import { addMemberBody, createChannelBody, directBody, historyQuery, muteBody, readBody } from '../../shared/api.js';
import type { AppContext } from '../context.js';
import { forbidden } from '../errors.js';
import { isUuid } from '../devices/devices.js';
import { endpoint } from '../http/endpoint.js';
import {
  addMemberBy,
  announceRead,
  createChannel,
  directChannel,
  joinChannel,
  leaveChannel,
  listChannels,
  loadChannel,
} from './channels.js';
import { messageHistory } from './messages.js';
import { moveReadCursor, setMuted } from './read-state.js';
import { channelPolicy } from './policy.js';

/** `writeLimit`: one per-user budget (shared with /api/direct) for creating channels and every membership change. */
export function channelRoutes(ctx: AppContext, writeLimit: RequestHandler): Router {
  const router = Router();

  router.get(
    '/',
    endpoint(ctx, { access: 'session' }, async ({ auth }) => ({ channels: await listChannels(ctx, auth.user.id) })),
  );

  router.post(
    '/',
    writeLimit,
    endpoint(ctx, { access: 'session', body: createChannelBody, status: 201 }, async ({ auth, body }) => ({
      channel: await createChannel(ctx, { ...body, creatorId: auth.user.id }),
    })),
  );

  router.post(
    '/:id/join',
    writeLimit,
    endpoint(ctx, { access: 'session' }, async ({ req, auth }) => ({
      channel: await joinChannel(ctx, String(req.params.id), auth.user.id),
    })),
  );

  router.post(
    '/:id/leave',
    writeLimit,
    endpoint(ctx, { access: 'session' }, async ({ req, auth }) => {
      await leaveChannel(ctx, String(req.params.id), auth.user.id);
      return { ok: true };
    }),
  );

  router.post(
    '/:id/members',
    writeLimit,
    endpoint(ctx, { access: 'session', body: addMemberBody }, async ({ req, auth, body }) => ({
      channel: await addMemberBy(ctx, String(req.params.id), auth.user.id, body.userId),
    })),
  );

  router.post(
    '/:id/read',
    endpoint(ctx, { access: 'session', body: readBody }, async ({ req, auth, body }) => {
      const channelId = String(req.params.id);
      const result = isUuid(channelId) ? await moveReadCursor(ctx.pool, { channelId, userId: auth.user.id, seq: body.seq }) : null;
      if (!result) throw forbidden('Not a member of this channel');
      if (result.moved) {
        await announceRead(ctx, { type: 'read', channelId, userId: auth.user.id, seq: result.state.readSeq }, result);
      }
      return result.state;
    }),
  );

  router.post(
    '/:id/mute',
    endpoint(ctx, { access: 'session', body: muteBody }, async ({ req, auth, body }) => {
      const channelId = String(req.params.id);
      if (!isUuid(channelId) || !(await setMuted(ctx.pool, channelId, auth.user.id, body.muted))) throw forbidden('Not a member of this channel');
      return { muted: body.muted };
    }),
  );

  router.get(
    '/:id/messages',
    endpoint(ctx, { access: 'session', query: historyQuery }, async ({ req, auth, query }) => {
      const channel = await loadChannel(ctx.db, String(req.params.id));
      // A missing channel answers as one the caller may not read: ids cannot be probed (policy.ts).
      const refused = channelPolicy.read(channel, auth.user.id);
      if (!channel || refused) throw forbidden(refused ?? '');
      return { messages: await messageHistory(ctx.pool, channel.id, query) };
    }),
  );

  return router;
}

export function directRoutes(ctx: AppContext, writeLimit: RequestHandler): Router {
  const router = Router();
  router.post(
    '/',
    writeLimit,
    endpoint(ctx, { access: 'session', body: directBody }, async ({ auth, body }) => ({
      channel: await directChannel(ctx, auth.user.id, body.userId),
    })),
  );
  return router;
}
