/** Channel names (v2, Slack-like): a-z 0-9 - _, 1 to 80; capitals lower-cased and spaces made -, anything else refused. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseChannelName } from '../../shared/api.js';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';

let server: TestServer;
let ann: HttpClient;

beforeAll(async () => {
  server = await startTestServer();
  ann = await server.register('namesann');
});
afterAll(() => server?.close());

describe('channel names', () => {
  it('normalises "General Chat" to "general-chat" and stores that', async () => {
    const res = await ann.post('/api/channels', { name: '  Design   Review ', kind: 'public' });
    expect(res.status).toBe(201);
    expect(res.body.channel.name).toBe('design-review');
    const taken = await ann.post('/api/channels', { name: 'DESIGN review', kind: 'private' });
    expect(taken.status).toBe(409);
    expect(normaliseChannelName('General Chat')).toBe('general-chat');
    expect((await ann.post('/api/channels', { name: 'ops_2024-q1', kind: 'public' })).body.channel.name).toBe('ops_2024-q1');
  });

  it('refuses other characters with 400 naming the rule', async () => {
    for (const name of ['café', 'a/b', '#general', 'dots.here', '💬', 'x'.repeat(81), '  ']) {
      const res = await ann.post('/api/channels', { name, kind: 'public' });
      expect(res.status, name).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.message).toContain('name');
      expect(res.body.error.message).toContain('a-z, 0-9, - and _');
    }
  });

  it('leaves channels named before the rule as they are', async () => {
    const { rows } = await server.ctx.pool.query<{ id: string }>(
      `INSERT INTO channels (name, kind) VALUES ('Old Name.Kept', 'public') RETURNING id`,
    );
    const list = await ann.get('/api/channels');
    expect(list.body.channels.find((c: { id: string }) => c.id === rows[0].id).name).toBe('Old Name.Kept');
    expect((await ann.post(`/api/channels/${rows[0].id}/join`)).status).toBe(200);
  });
});
