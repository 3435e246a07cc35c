/**
 * The device token of a realtime client, and the proofs that go with it when the device is bound
 * to a key (CONTRACT "Tokens", "(v2) Proof of possession").
 *
 * Guarantees:
 * - The token lives in memory only, never in a URL or in storage. It is reused for a new
 *   connection while it has more than a minute left (a restart's reconnect storm then costs the
 *   server no token request per socket); otherwise a fresh one comes from POST /api/auth/token.
 * - With a device key, every token request carries an RFC 9449 DPoP proof, and `proof()` signs a
 *   socket proof over the nonce given. The key stays with `proofKey`; nothing of it is kept here
 *   but the handle for this connection attempt.
 * - A 401 from the token endpoint throws SessionEnded (the session is gone: stop for good); a
 *   server that cannot be reached at all throws Unreachable (worth probing for its return).
 */
import { dpopProof, socketProof, type ProofKey } from '../../../shared/proofs.js';

export class SessionEnded extends Error {}
/** The server could not be reached at all (not an HTTP error answer). */
export class Unreachable extends Error {}

/** A token with less than this left is not reused for a new connection. */
const TOKEN_REUSE_MARGIN_MS = 60_000;

export class DeviceTokens {
  /** The last token and its expiry (epoch ms, the server's clock). */
  private held?: { token: string; expiresAt: number };
  private key: ProofKey | null = null;

  constructor(
    private readonly opts: {
      baseUrl: string;
      fetch: typeof fetch;
      proofKey?: () => Promise<ProofKey | null>;
      log: (message: string, detail?: unknown) => void;
    },
  ) {}

  /** Whether this connection attempt proves a key (its authenticate then waits for the challenge). */
  get bound(): boolean {
    return this.key !== null;
  }

  /** Asks for the device key once per connection attempt, then the token it authenticates with. */
  async forConnection(): Promise<string> {
    this.key = (await this.opts.proofKey?.()) ?? null;
    const held = this.held;
    // Wall-clock time: the server dates the token's expiry on its own clock.
    return held && held.expiresAt - Date.now() > TOKEN_REUSE_MARGIN_MS ? held.token : this.fresh();
  }

  /** The held token was refused: the next connection asks for a fresh one. */
  forget(): void {
    this.held = undefined;
  }

  async fresh(): Promise<string> {
    let res: Response;
    try {
      const url = this.opts.baseUrl + '/api/auth/token';
      const headers: Record<string, string> = { accept: 'application/json' };
      // htu is absolute: resolved against the page when the client runs same-origin.
      const htu = new URL(url, (globalThis as { location?: { href: string } }).location?.href).toString();
      if (this.key) headers.DPoP = await dpopProof(this.key, 'POST', htu);
      res = await this.opts.fetch(url, { method: 'POST', credentials: 'same-origin', headers });
    } catch (err) {
      throw new Unreachable(String(err));
    }
    if (res.status === 401) throw new SessionEnded();
    if (!res.ok) throw new Error(`token request: ${res.status}`);
    const body = (await res.json()) as { token?: unknown; expiresAt?: unknown };
    if (typeof body.token !== 'string') throw new Error('token request: no token in the answer');
    const expiresAt = typeof body.expiresAt === 'string' ? Date.parse(body.expiresAt) : NaN;
    this.held = Number.isFinite(expiresAt) ? { token: body.token, expiresAt } : undefined;
    return body.token;
  }

  /**
   * The socket proof for `token` over `nonce`; undefined for an unbound device, or when signing
   * fails (the server then refuses the frame with 4401 and the client reconnects).
   */
  async proof(nonce: string | undefined, token: string): Promise<string | undefined> {
    if (!this.key || !nonce) return undefined;
    try {
      return await socketProof(this.key, nonce, token);
    } catch (err) {
      this.opts.log('signing the proof failed', err);
      return undefined;
    }
  }
}
