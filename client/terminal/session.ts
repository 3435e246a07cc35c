/**
 * The signed-in state every command but `login` starts from: the stored login, an HTTP client
 * carrying its cookies, and the device key to sign proofs with.
 *
 * @example
 * const session = openSession();
 * const me = await session.http.request('GET', '/api/auth/me');
 * session.persist();   // stores cookies the server changed meanwhile
 *
 * `persist()` re-reads the login file just before writing and only puts this process's cookies
 * into the login it finds there when that is still the device this process started with: a
 * `send` or `tail` that outlives a `relay login` (or `logout`) never writes the old device's
 * login back over the new one (or back from the dead).
 */
import type { ProofKey } from '../../shared/proofs.js';
import { loadLogin, saveLogin, type StoredLogin } from './config-store.js';
import { proofKeyFrom } from './device-key.js';
import { notLoggedIn } from './errors.js';
import { RelayHttp } from './http.js';

export interface Session {
  login: StoredLogin;
  http: RelayHttp;
  /** The device key, imported once (non-extractable). */
  proofKey(): Promise<ProofKey>;
  /** Stores the cookie jar again if the server changed it and the stored login is still this device's. */
  persist(): void;
}

export function openSession(env: Record<string, string | undefined> = process.env): Session {
  const login = loadLogin(env);
  if (!login) throw notLoggedIn();
  let key: Promise<ProofKey> | undefined;
  const proofKey = () => (key ??= proofKeyFrom(login.deviceKey));
  // POP8: every request of the stored login proves its key, not only token requests.
  const http = new RelayHttp(login.server, login.cookies, undefined, proofKey);
  return {
    login,
    http,
    proofKey,
    persist() {
      if (!http.changed || http.cookies.size === 0) return;
      http.changed = false;
      let current: StoredLogin | null;
      try {
        current = loadLogin(env);
      } catch {
        return; // unsafe or damaged now: not ours to overwrite
      }
      // Another login (or a logout) happened meanwhile: that one is the login now.
      if (!current || current.deviceId !== login.deviceId || current.server !== login.server) return;
      saveLogin({ ...current, cookies: Object.fromEntries(http.cookies) }, env);
    },
  };
}
