/** The login file: where it lives, how it is written, and which files are refused (like ssh). */
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configDir, deleteLogin, loadLogin, loginPath, saveLogin, type StoredLogin } from './config-store.js';
import { newDeviceKey } from './device-key.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'relay-store-'));

async function sample(): Promise<StoredLogin> {
  const { privateJwk } = await newDeviceKey();
  return {
    version: 1,
    server: 'http://127.0.0.1:3000',
    user: { id: 'u1', username: 'carol' },
    deviceId: 'd1',
    cookies: { 'relay.sid': 's%3Aabc.def', relay_fp: 'fp' },
    deviceKey: privateJwk as StoredLogin['deviceKey'],
    createdAt: new Date().toISOString(),
  };
}

describe('config-store', () => {
  it('lives in RELAY_CONFIG_DIR, else $XDG_CONFIG_HOME/relay (absolute only), else ~/.config/relay', () => {
    expect(configDir({ RELAY_CONFIG_DIR: '/x/y', XDG_CONFIG_HOME: '/xdg', HOME: '/h' })).toBe('/x/y');
    expect(configDir({ XDG_CONFIG_HOME: '/xdg', HOME: '/h' })).toBe('/xdg/relay');
    expect(configDir({ XDG_CONFIG_HOME: 'relative', HOME: '/h' })).toBe('/h/.config/relay');
    expect(configDir({ HOME: '/h' })).toBe('/h/.config/relay');
  });

  it('writes a 0600 file in a 0700 directory it creates, whole, leaving no temp file', async () => {
    const env = { RELAY_CONFIG_DIR: path.join(tmp(), 'a', 'relay') };
    const login = await sample();
    saveLogin(login, env);
    saveLogin({ ...login, deviceId: 'd2' }, env);
    expect(statSync(configDir(env)).mode & 0o777).toBe(0o700);
    expect(statSync(loginPath(env)).mode & 0o777).toBe(0o600);
    expect(readdirSync(configDir(env))).toEqual(['login.json']);
    expect(loadLogin(env)).toEqual({ ...login, deviceId: 'd2' });
    expect(deleteLogin(env)).toBe(true);
    expect(loadLogin(env)).toBeNull();
    expect(deleteLogin(env)).toBe(false);
  });

  it('refuses a file group or others can read, naming the fix', async () => {
    const env = { RELAY_CONFIG_DIR: tmp() };
    saveLogin(await sample(), env);
    for (const mode of [0o640, 0o604, 0o666]) {
      chmodSync(loginPath(env), mode);
      expect(() => loadLogin(env)).toThrow(new RegExp(`Permissions 0${mode.toString(8)} .* too open[^]*chmod 600`));
    }
  });

  it('refuses a directory others may write to (the file could be swapped)', async () => {
    const env = { RELAY_CONFIG_DIR: tmp() };
    saveLogin(await sample(), env);
    chmodSync(configDir(env), 0o777);
    expect(() => loadLogin(env)).toThrow(/writable by others[^]*chmod 700/);
    const login = await sample();
    expect(() => saveLogin(login, env)).toThrow(/writable by others/);
  });

  it.runIf(process.getuid?.() === 0)('refuses a file another user owns', async () => {
    const env = { RELAY_CONFIG_DIR: tmp() };
    saveLogin(await sample(), env);
    chownSync(loginPath(env), 65534, 65534);
    expect(() => loadLogin(env)).toThrow(/belongs to another user/);
  });

  it('says a damaged file is damaged', () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'login.json'), '{"version":1,', { mode: 0o600 });
    expect(() => loadLogin({ RELAY_CONFIG_DIR: dir })).toThrow(/damaged; delete it and run relay login/);
    writeFileSync(path.join(dir, 'login.json'), JSON.stringify({ version: 1, server: 'http://x' }), { mode: 0o600 });
    expect(() => loadLogin({ RELAY_CONFIG_DIR: dir })).toThrow(/damaged/);
  });
});

describe('config-store: links and owners', () => {
  it('refuses a login file that is a symbolic link, without following it', async () => {
    const env = { RELAY_CONFIG_DIR: tmp() };
    const elsewhere = path.join(tmp(), 'login.json');
    writeFileSync(elsewhere, JSON.stringify(await sample()), { mode: 0o600 });
    symlinkSync(elsewhere, loginPath(env));
    expect(() => loadLogin(env)).toThrow(/is a symbolic link; refusing/);
    expect(lstatSync(loginPath(env)).isSymbolicLink()).toBe(true);
  });

  it('refuses a config directory that is a symbolic link, to read from or to store a key in', async () => {
    const real = tmp();
    saveLogin(await sample(), { RELAY_CONFIG_DIR: real });
    const link = path.join(tmp(), 'relay');
    symlinkSync(real, link);
    const env = { RELAY_CONFIG_DIR: link };
    expect(() => loadLogin(env)).toThrow(/directory .* is a symbolic link/);
    const login = await sample();
    expect(() => saveLogin(login, env)).toThrow(/directory .* is a symbolic link/);
  });

  it('refuses a login path that is not a regular file', () => {
    const env = { RELAY_CONFIG_DIR: tmp() };
    mkdirSync(loginPath(env), { mode: 0o700 });
    expect(() => loadLogin(env)).toThrow(/not a regular file/);
  });

  it.runIf(process.getuid?.() === 0)('refuses a directory another user owns', async () => {
    const env = { RELAY_CONFIG_DIR: tmp() };
    saveLogin(await sample(), env);
    chownSync(configDir(env), 65534, 65534);
    expect(() => loadLogin(env)).toThrow(/belongs to another user/);
    const login = await sample();
    expect(() => saveLogin(login, env)).toThrow(/belongs to another user/);
  });
});
