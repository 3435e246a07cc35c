/** Every /api call the browser makes, one function each, typed by the shared schemas. */
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/browser';
import { z } from 'zod';
import {
  adminUser,
  auditEvent,
  authResponse,
  channel,
  device,
  inviteResponse,
  meResponse,
  message,
  passkeyCreationOptions,
  passkeyRequestOptions,
  passkeyResponse,
  passkeysResponse,
  searchResponse,
  setupResponse,
  user,
  userSummary,
  type DeviceKey,
} from '../../../shared/api.js';
import { forgetDeviceKey, signInWithDeviceKey } from '../auth/device-key.js';
import { http } from './http.js';

const channelResponse = z.object({ channel });

export const api = {
  me: () => http.get('/api/auth/me', meResponse),
  // Each sign-in binds its new device to a new key of this browser (auth/device-key.ts).
  login: (username: string, password: string) =>
    signInWithDeviceKey((deviceKey) => http.post('/api/auth/login', authResponse, { username, password, ...(deviceKey ? { deviceKey } : {}) })),
  register: (username: string, password: string, displayName?: string, invite?: string) =>
    signInWithDeviceKey((deviceKey) =>
      http.post('/api/auth/register', authResponse, {
        username,
        password,
        ...(displayName ? { displayName } : {}),
        ...(invite ? { invite } : {}),
        ...(deviceKey ? { deviceKey } : {}),
      }),
    ),
  setup: () => http.get('/api/setup', setupResponse),
  updateMe: (displayName: string) => http.patch('/api/me', z.object({ user }), { displayName }).then((r) => r.user),
  changePassword: (currentPassword: string, newPassword: string) =>
    http.post('/api/me/password', z.object({ revoked: z.number(), passkeysRemoved: z.number().default(0) }), { currentPassword, newPassword }),
  search: (q: string, opts: { channelId?: string; before?: string; limit?: number } = {}) => {
    const params = new URLSearchParams({ q });
    if (opts.channelId) params.set('channelId', opts.channelId);
    if (opts.before) params.set('before', opts.before);
    if (opts.limit) params.set('limit', String(opts.limit));
    return http.get(`/api/search?${params}`, searchResponse).then((r) => r.results);
  },
  // The key goes only once the session is over: signed out (204), or already gone (401: the
  // session-end watcher removes it, for its own device only, so a newer sign-in's key in another
  // tab stays). A logout that did not reach the server (offline) keeps it, or the still-live
  // session could not be proven.
  logout: () => http.post('/api/auth/logout', null).then(() => forgetDeviceKey()),

  devices: () => http.get('/api/devices', z.object({ devices: z.array(device) })).then((r) => r.devices),
  revokeDevice: (id: string) =>
    http.post(`/api/devices/${encodeURIComponent(id)}/revoke`, z.object({ device })).then(async ({ device }) => {
      if (device.current) await forgetDeviceKey();
      return device;
    }),

  usersByIds: (ids: string[]) =>
    http
      .get(`/api/users?ids=${encodeURIComponent(ids.slice(0, 100).join(','))}`, z.object({ users: z.array(userSummary) }))
      .then((r) => r.users),
  users: (q?: string) =>
    http.get(`/api/users${q ? `?q=${encodeURIComponent(q)}` : ''}`, z.object({ users: z.array(userSummary) })).then((r) => r.users),

  channels: () => http.get('/api/channels', z.object({ channels: z.array(channel) })).then((r) => r.channels),
  createChannel: (name: string, kind: 'public' | 'private', memberIds?: string[]) =>
    http.post('/api/channels', channelResponse, { name, kind, ...(memberIds?.length ? { memberIds } : {}) }).then((r) => r.channel),
  joinChannel: (id: string) => http.post(`/api/channels/${encodeURIComponent(id)}/join`, channelResponse).then((r) => r.channel),
  leaveChannel: (id: string) => http.post(`/api/channels/${encodeURIComponent(id)}/leave`, null),
  addMember: (id: string, userId: string) =>
    http.post(`/api/channels/${encodeURIComponent(id)}/members`, channelResponse, { userId }).then((r) => r.channel),
  mute: (id: string, muted: boolean) => http.post(`/api/channels/${encodeURIComponent(id)}/mute`, z.object({ muted: z.boolean() }), { muted }),
  direct: (userId: string) => http.post('/api/direct', channelResponse, { userId }).then((r) => r.channel),
  messages: (channelId: string, opts: { beforeSeq?: number; afterSeq?: number; limit?: number } = {}) => {
    const q = new URLSearchParams();
    if (opts.beforeSeq !== undefined) q.set('beforeSeq', String(opts.beforeSeq));
    if (opts.afterSeq !== undefined) q.set('afterSeq', String(opts.afterSeq));
    q.set('limit', String(opts.limit ?? 50));
    return http
      .get(`/api/channels/${encodeURIComponent(channelId)}/messages?${q}`, z.object({ messages: z.array(message) }))
      .then((r) => r.messages);
  },

  /** (v2) Passkeys: the options go as they are to @simplewebauthn/browser's startRegistration/startAuthentication. */
  passkeys: {
    /** The account's current password is asked first (SPEC PK7): a session alone adds no passkey. */
    registerOptions: (password: string) =>
      http.post('/api/auth/passkeys/options', passkeyCreationOptions, { password }).then((o) => o as unknown as PublicKeyCredentialCreationOptionsJSON),
    register: (response: RegistrationResponseJSON, name?: string) =>
      http.post('/api/auth/passkeys', passkeyResponse, { response, ...(name ? { name } : {}) }).then((r) => r.passkey),
    list: () => http.get('/api/auth/passkeys', passkeysResponse).then((r) => r.passkeys),
    rename: (id: string, name: string) => http.patch(`/api/auth/passkeys/${encodeURIComponent(id)}`, passkeyResponse, { name }).then((r) => r.passkey),
    remove: (id: string) => http.delete(`/api/auth/passkeys/${encodeURIComponent(id)}`),
    loginOptions: () =>
      http.post('/api/auth/passkey/options', passkeyRequestOptions).then((o) => o as unknown as PublicKeyCredentialRequestOptionsJSON),
    /** Signs in like `login`: the new device is bound to a new device key where the browser can keep one. */
    login: (response: AuthenticationResponseJSON, deviceName?: string) =>
      signInWithDeviceKey((deviceKey) =>
        http.post('/api/auth/passkey/login', authResponse, { response, ...(deviceKey ? { deviceKey } : {}), ...(deviceName ? { deviceName } : {}) }),
      ),
  },

  admin: {
    users: () => http.get('/api/admin/users', z.object({ users: z.array(adminUser) })).then((r) => r.users),
    devices: (userId: string) =>
      http.get(`/api/admin/users/${encodeURIComponent(userId)}/devices`, z.object({ devices: z.array(device) })).then((r) => r.devices),
    revokeDevice: (id: string) => http.post(`/api/admin/devices/${encodeURIComponent(id)}/revoke`, z.object({ device })).then((r) => r.device),
    revokeAll: (userId: string) =>
      http.post(`/api/admin/users/${encodeURIComponent(userId)}/revoke-devices`, z.object({ revoked: z.number() })).then((r) => r.revoked),
    disable: (userId: string) => http.post(`/api/admin/users/${encodeURIComponent(userId)}/disable`, z.object({ user })).then((r) => r.user),
    enable: (userId: string) => http.post(`/api/admin/users/${encodeURIComponent(userId)}/enable`, z.object({ user })).then((r) => r.user),
    setRole: (userId: string, role: 'admin' | 'user') =>
      http.post(`/api/admin/users/${encodeURIComponent(userId)}/role`, z.object({ user }), { role }).then((r) => r.user),
    setRegistration: (mode: 'open' | 'closed') => http.post('/api/admin/registration', z.object({ mode: z.enum(['open', 'closed']) }), { mode }),
    createInvite: () => http.post('/api/admin/invites', inviteResponse).then((r) => r.invite),
    audit: (limit = 100) => http.get(`/api/admin/audit?limit=${limit}`, z.object({ events: z.array(auditEvent) })).then((r) => r.events),
  },
};
