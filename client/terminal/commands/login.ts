/**
 * `relay login` and `relay logout`.
 *
 * login: the password comes from stdin or a prompt that does not echo, never from argv. A new
 * device key is made for every login and its public half sent as `deviceKey`, so the device is
 * bound: its session cookies alone cannot get a token (CONTRACT "Proof of possession"). The
 * token of the login answer is not kept; commands ask for fresh ones with a DPoP proof.
 *
 * logout: the server signs this device out first; only then is the stored login deleted (a
 * login the server no longer knows is deleted too).
 */
import os from 'node:os';
import { LIMITS, type AuthResponse } from '../../../shared/index.js';
import type { CommandLine } from '../args.js';
import { deleteLogin, loadLogin, loginPath, saveLogin, type StoredLogin } from '../config-store.js';
import { newDeviceKey, proofKeyFrom } from '../device-key.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { HttpError, RelayHttp } from '../http.js';
import { note, print, printJson } from '../output.js';
import { promptLine, readPassword } from '../prompt.js';
import { openSession } from '../session.js';

type Env = Record<string, string | undefined>;

const DEFAULT_SERVER = 'http://localhost:3000';

/** "https://chat.example/" → "https://chat.example"; anything but a plain http(s) URL is refused. */
export function normaliseServer(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--server: not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError('--server: must be an http:// or https:// URL');
  if (url.username || url.password || url.search || url.hash) throw usageError('--server: give the bare server URL (no credentials, query or fragment)');
  return (url.origin + url.pathname).replace(/\/+$/, '');
}

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\./.test(host);

function previousLogin(env: Env): StoredLogin | null {
  try {
    return loadLogin(env);
  } catch {
    return null; // unsafe or damaged: it is replaced below either way
  }
}

export async function login(cl: CommandLine, env: Env = process.env): Promise<number> {
  const previous = previousLogin(env);
  const server = normaliseServer((cl.options.server as string | undefined) ?? previous?.server ?? DEFAULT_SERVER);
  let username = cl.options.username as string | undefined;
  if (!username) {
    if (!process.stdin.isTTY) throw usageError('--username is required when the password comes from stdin');
    username = await promptLine('Username: ');
  }
  if (new URL(server).protocol === 'http:' && !isLoopback(new URL(server).hostname)) {
    note(`Warning: ${server} is plain http; the password and session cross the network unencrypted.`);
  }
  const password = await readPassword();
  const deviceName = ((cl.options['device-name'] as string | undefined) ?? `relay CLI on ${os.hostname()}`).slice(0, LIMITS.deviceNameMax);
  const key = await newDeviceKey();

  const http = new RelayHttp(server);
  const auth = await http.request<AuthResponse>('POST', '/api/auth/login', { username, password, deviceName, deviceKey: key.publicJwk });
  if (http.cookies.size === 0) throw new CliError(`${server} answered the login but set no session cookie; is it a Relay server?`);
  saveLogin(
    {
      version: 1,
      server,
      user: { id: auth.user.id, username: auth.user.username },
      deviceId: auth.device.id,
      cookies: Object.fromEntries(http.cookies),
      deviceKey: key.privateJwk as StoredLogin['deviceKey'], // checked by saveLogin's schema
      createdAt: new Date().toISOString(),
    },
    env,
  );

  // The login being replaced would otherwise stay signed in on its server with nobody holding it.
  let replaced: string | undefined;
  if (previous) {
    try {
      // With its own key's proof (POP8): without it the server would refuse to sign it out.
      await new RelayHttp(previous.server, previous.cookies, 10_000, () => proofKeyFrom(previous.deviceKey)).request('POST', '/api/auth/logout');
      replaced = previous.deviceId;
    } catch {
      /* already signed out, or that server is gone: nothing to clean up we can reach */
    }
  }

  if (cl.json) {
    printJson({ server, user: auth.user, device: auth.device, file: loginPath(env), ...(replaced ? { signedOutDeviceId: replaced } : {}) });
  } else {
    print(`Logged in to ${server} as ${auth.user.username}${auth.user.role === 'admin' ? ' (admin)' : ''}.`);
    print(`This device: "${auth.device.name}" (${auth.device.id.slice(0, 8)}), ${auth.device.bound ? 'bound to a key' : 'NOT bound to a key'} kept in ${loginPath(env)}`);
    if (replaced) print(`The previous login on this machine (device ${replaced.slice(0, 8)}) was signed out.`);
  }
  return EXIT.ok;
}

export async function logout(cl: CommandLine, env: Env = process.env): Promise<number> {
  const session = openSession(env);
  let already = false;
  try {
    await session.http.request('POST', '/api/auth/logout');
  } catch (err) {
    // 401: the server had already ended this session (revoked, expired); forgetting it is all that is left.
    if (!(err instanceof HttpError && err.status === 401)) throw err;
    already = true;
  }
  deleteLogin(env);
  if (cl.json) printJson({ loggedOut: true, alreadySignedOut: already });
  else print(already ? 'This device was already signed out; the stored login is deleted.' : `Logged out of ${session.login.server}; the stored login is deleted.`);
  return EXIT.ok;
}
