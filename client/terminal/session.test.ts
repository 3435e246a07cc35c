/** persist(): a long-running command never writes its old login back over a newer one. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deleteLogin, loadLogin, saveLogin, type StoredLogin } from './config-store.js';
import { newDeviceKey } from './device-key.js';
import { openSession } from './session.js';

async function sample(deviceId: string): Promise<StoredLogin> {
  const { privateJwk } = await newDeviceKey();
  return {
    version: 1,
    server: 'http://127.0.0.1:3000',
    user: { id: 'u1', username: 'carol' },
    deviceId,
    cookies: { 'relay.sid': `sid-${deviceId}`, relay_fp: `fp-${deviceId}` },
    deviceKey: privateJwk as StoredLogin['deviceKey'],
    createdAt: new Date().toISOString(),
  };
}

const envOf = () => ({ RELAY_CONFIG_DIR: mkdtempSync(path.join(os.tmpdir(), 'relay-session-')) });

/** As if a response had rotated the session cookie. */
function rotate(session: ReturnType<typeof openSession>, value: string): void {
  session.http.cookies.set('relay.sid', value);
  session.http.changed = true;
}

describe('Session.persist', () => {
  it('stores the changed cookies into the login on file when it is still this device', async () => {
    const env = envOf();
    saveLogin(await sample('d1'), env);
    const session = openSession(env);
    rotate(session, 'sid-rotated');
    session.persist();
    expect(loadLogin(env)?.cookies).toEqual({ 'relay.sid': 'sid-rotated', relay_fp: 'fp-d1' });
  });

  it('leaves a newer login (relay login meanwhile) as it is', async () => {
    const env = envOf();
    saveLogin(await sample('d1'), env);
    const session = openSession(env); // a tail started before the new login
    const newer = await sample('d2');
    saveLogin(newer, env);
    rotate(session, 'sid-old-device');
    session.persist();
    expect(loadLogin(env)).toEqual(newer);
  });

  it('does not bring back a login deleted meanwhile (relay logout)', async () => {
    const env = envOf();
    saveLogin(await sample('d1'), env);
    const session = openSession(env);
    deleteLogin(env);
    rotate(session, 'sid-rotated');
    session.persist();
    expect(loadLogin(env)).toBeNull();
  });
});
