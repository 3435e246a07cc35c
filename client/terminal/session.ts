/**
 * The signed-in state every command but `login` starts from: the stored login, an HTTP client
 * carrying its cookies, and the device key to sign proofs with.
 *
 * @example
 * const session = openSession();
 * const me = await session.http.request('GET', '/api/auth/me');
 * session.persist();   // stores cookies the server changed meanwhile
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
  /** Stores the cookie jar again if the server changed it. */
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
      saveLogin({ ...login, cookies: Object.fromEntries(http.cookies) }, env);
      http.changed = false;
    },
  };
}
