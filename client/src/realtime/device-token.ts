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
 * - Proofs are dated on the server's clock (`clock`, shared/proofs.ts), learnt from the `Date`
 *   header of every token answer, so a device whose clock is minutes off still proves its key.
 *   A token request refused with 401 `invalid_proof` whose `Date` showed the proof's time was
 *   off is asked once more, with a fresh proof dated on the corrected clock.
 * - A 401 from the token endpoint (after that one retry) throws SessionEnded (the session is
 *   gone: stop for good); a server that cannot be reached at all throws Unreachable (worth
 *   probing for its return).
 */
import { dpopProof, serverClock, socketProof, type ProofKey, type ServerClock } from '../../../shared/proofs.js';

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
      /** The server's clock as estimated; default: the one shared by the page or process. */
      clock?: ServerClock;
    },
  ) {
    this.clock = opts.clock ?? serverClock;
  }

  private readonly clock: ServerClock;

  /** Whether this connection attempt proves a key (its authenticate then waits for the challenge). */
  get bound(): boolean {
    return this.key !== null;
  }

  /** Asks for the device key once per connection attempt, then the token it authenticates with. */
  async forConnection(): Promise<string> {
    this.key = (await this.opts.proofKey?.()) ?? null;
    const held = this.held;
    // The server dates the token's expiry on its own clock.
    return held && held.expiresAt - this.clock.now() > TOKEN_REUSE_MARGIN_MS ? held.token : this.fresh();
  }

  /** The held token was refused: the next connection asks for a fresh one. */
  forget(): void {
    this.held = undefined;
  }

  async fresh(retried = false): Promise<string> {
    let res: Response;
    const offsetBefore = this.clock.offset;
    try {
      const url = this.opts.baseUrl + '/api/auth/token';
      const headers: Record<string, string> = { accept: 'application/json' };
      // htu is absolute: resolved against the page when the client runs same-origin.
      const htu = new URL(url, (globalThis as { location?: { href: string } }).location?.href).toString();
      if (this.key) headers.DPoP = await dpopProof(this.key, 'POST', htu, this.clock);
      res = await this.opts.fetch(url, { method: 'POST', credentials: 'same-origin', headers });
    } catch (err) {
      throw new Unreachable(String(err));
    }
    this.clock.observe(res.headers.get('date'));
    if (res.status === 401) {
      // Refused for the proof's time, as the server's Date shows: once more on the corrected clock.
      if (this.key && !retried && this.clock.movedSince(offsetBefore) && (await errorCode(res)) === 'invalid_proof') {
        this.opts.log('the proof was dated off the server clock; retrying once', this.clock.offset);
        return this.fresh(true);
      }
      throw new SessionEnded();
    }
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
      return await socketProof(this.key, nonce, token, this.clock);
    } catch (err) {
      this.opts.log('signing the proof failed', err);
      return undefined;
    }
  }
}

/** The `error.code` of an error answer, if it has one. */
async function errorCode(res: Response): Promise<string | undefined> {
  try {
    const body = (await res.json()) as { error?: { code?: unknown } };
    return typeof body?.error?.code === 'string' ? body.error.code : undefined;
  } catch {
    return undefined;
  }
}
