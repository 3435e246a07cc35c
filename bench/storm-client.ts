/**
 * Reconnect storm, the client side (runs inside bench/load-worker.ts): Relay sockets that, once
 * closed by the server, come back the way the browser's RealtimeClient does
 * (client/src/realtime/client.ts):
 *
 *   close → wait fullJitterDelay(attempt, DEFAULT_BACKOFF) (the client's own function and policy,
 *   imported, so the numbers cannot drift) → [token] → upgrade with Cookie + Origin →
 *   `authenticate` (10 s auth timeout, as the client) → `subscribe` with `sinceSeq` → `subscribed`.
 *   A failed attempt (refused, reset, closed, timed out) waits with attempt + 1; 4429 uses
 *   RATE_LIMITED_BACKOFF; 4401 fetches a fresh token and retries at once (once, as the client);
 *   4403, a token request answered 401 or a subscribe refused stop the socket for good ("gave up").
 *
 * The token step is the one place that can follow either of two rules (`tokenPolicy`):
 *   'expired'  a fresh token only when the one held has expired (tokens live 2 h in the bench, so
 *              in practice none is requested);
 *   'attempt'  POST /api/auth/token before every attempt, which is what client.ts does today.
 *
 * Not mirrored: the client's own 25 s ping (the server pings; `ws` answers), outbox, typing.
 * Times are epoch milliseconds with sub-ms resolution (performance.timeOrigin + now()), so the
 * orchestrator's clock (when /healthz first answered) and this process's can be compared.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { DEFAULT_BACKOFF, RATE_LIMITED_BACKOFF, fullJitterDelay, type BackoffPolicy } from '../client/src/realtime/backoff.js';
import { percentileOf } from './common.js';
import type { Cred, Target } from './load-worker.js';

export const epochNow = () => performance.timeOrigin + performance.now();

/** As client.ts (authTimeoutMs). */
const AUTH_TIMEOUT_MS = 10_000;
/** The browser has no handshake timeout of its own; this only bounds a hung upgrade in the bench. */
const HANDSHAKE_TIMEOUT_MS = 30_000;

export type TokenPolicy = 'expired' | 'attempt';

export interface StormConnectArgs {
  target: Target;
  count: number;
  concurrency: number;
  creds: Cred[];
  channelId: string;
  localAddresses: string[];
  tokenPolicy: TokenPolicy;
}

type State = 'connecting' | 'live' | 'waiting' | 'stopped';

class StormSocket {
  state: State = 'connecting';
  ws: WebSocket | null = null;
  /** Consecutive failed attempts since last live (client.ts: status.attempt). */
  attempt = 0;
  retriedAuth = false;
  token: string;
  tokenExpiresAt = Infinity;
  lastSeq = 0;
  timer: NodeJS.Timeout | null = null;
  /** Bumped per attempt; events of an older attempt are ignored (client.ts: seq). */
  gen = 0;
  // ---- the storm, measured
  /** When the server closed the live socket, and with which code. */
  droppedAt = 0;
  dropCode: number | undefined;
  backAt = 0;
  attemptsSinceDrop = 0;
  /** Start of the attempt that succeeded (after its backoff wait), and when `authenticated` came. */
  lastAttemptAt = 0;
  openAt = 0;
  authenticatedAt = 0;
  tokenRequests = 0;
  gaveUp: string | undefined;

  constructor(
    readonly index: number,
    readonly cred: Cred,
    readonly localAddress: string | undefined,
  ) {
    this.token = cred.token;
  }
}

interface Storm {
  args: StormConnectArgs;
  sockets: StormSocket[];
  /** Failed attempts: reason and when that attempt started (epoch ms). */
  failures: Array<[string, number]>;
  tokenRequests: number;
  tokenFailures: number;
  tokenMs: number[];
  presenceFrames: number;
  /** True once the orchestrator asked to close: closes are ours, nothing reconnects. */
  closing: boolean;
  /** Set by `arm`: from then on a server close counts as the storm's drop. */
  armed: boolean;
}

let storm: Storm | undefined;

const PRESENCE = Buffer.from('"type":"presence"');
const SEQ_RE = /"seq":(\d+)/;

/** Dated by the attempt's start, not by when this (possibly busy) process saw it fail. */
function fail(st: Storm, s: StormSocket, reason: string): void {
  st.failures.push([reason, s.lastAttemptAt || epochNow()]);
}

/** POST /api/auth/token with the session and fingerprint cookies, on a connection of its own (like a fresh browser connection after the restart). */
function fetchToken(st: Storm, s: StormSocket): Promise<{ status: number; token?: string; expiresAt?: string }> {
  const t = st.args.target;
  st.tokenRequests++;
  s.tokenRequests++;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: t.host,
        port: t.port,
        path: '/api/auth/token',
        method: 'POST',
        agent: false,
        localAddress: s.localAddress,
        headers: { cookie: s.cred.cookie, origin: t.origin, accept: 'application/json', 'content-length': '0' },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          st.tokenMs.push(performance.now() - t0);
          if (res.statusCode !== 200) return resolve({ status: res.statusCode ?? 0 });
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString()) as { token: string; expiresAt: string };
            resolve({ status: 200, token: body.token, expiresAt: body.expiresAt });
          } catch {
            resolve({ status: -1 });
          }
        });
        res.on('error', () => resolve({ status: -1 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      fail(st, s, `token_${err.code ?? err.message}`);
      resolve({ status: 0 });
    });
    req.end();
  });
}

function scheduleRetry(st: Storm, s: StormSocket, policy: BackoffPolicy): void {
  if (st.closing || s.state === 'stopped') return;
  s.gen++;
  const delay = fullJitterDelay(s.attempt, policy);
  s.attempt++;
  s.state = 'waiting';
  s.timer = setTimeout(() => {
    s.timer = null;
    void attempt(st, s);
  }, delay);
}

function giveUp(st: Storm, s: StormSocket, why: string): void {
  s.state = 'stopped';
  s.gaveUp = why;
  s.gen++;
  fail(st, s, `gave_up_${why}`);
  s.ws?.terminate();
  s.ws = null;
}

/** One connection attempt; `initial` is the set-up connect (resolves when subscribed or failed). */
async function attempt(st: Storm, s: StormSocket, initial?: (ok: boolean, why?: string) => void): Promise<void> {
  if (st.closing || s.state === 'stopped') return;
  const gen = ++s.gen;
  s.state = 'connecting';
  if (!initial) {
    s.attemptsSinceDrop++;
    s.lastAttemptAt = epochNow();
  }
  const needToken = st.args.tokenPolicy === 'attempt' ? !initial : Date.now() >= s.tokenExpiresAt;
  if (needToken) {
    const r = await fetchToken(st, s);
    if (gen !== s.gen || st.closing) return;
    if (r.status === 401) return giveUp(st, s, 'token_401');
    if (r.status !== 200 || !r.token) {
      st.tokenFailures++;
      if (r.status > 0) fail(st, s, `token_http_${r.status}`);
      return scheduleRetry(st, s, DEFAULT_BACKOFF);
    }
    s.token = r.token;
    s.tokenExpiresAt = Date.parse(r.expiresAt!);
  }
  const t = st.args.target;
  const ws = new WebSocket(`ws://${t.host}:${t.port}/ws`, {
    headers: { Cookie: s.cred.cookie, Origin: t.origin! },
    perMessageDeflate: false,
    skipUTF8Validation: true,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    localAddress: s.localAddress,
  });
  s.ws = ws;
  let authTimer: NodeJS.Timeout | null = null;
  let failure: string | undefined;
  const done = (ok: boolean, why?: string) => {
    if (authTimer) clearTimeout(authTimer);
    authTimer = null;
    if (initial) initial(ok, why);
    initial = undefined;
  };

  ws.on('open', () => {
    if (gen !== s.gen) return;
    s.openAt = epochNow();
    ws.send(JSON.stringify({ type: 'authenticate', token: s.token }));
    authTimer = setTimeout(() => {
      if (gen !== s.gen) return;
      failure = 'auth_timeout';
      ws.terminate();
    }, AUTH_TIMEOUT_MS);
  });
  ws.on('message', (data: Buffer) => {
    if (gen !== s.gen) return;
    if (s.state === 'live') {
      if (data.indexOf(PRESENCE) >= 0) st.presenceFrames++;
      else {
        const m = SEQ_RE.exec(data.toString('latin1', 0, Math.min(data.length, 200)));
        if (m) s.lastSeq = Math.max(s.lastSeq, Number(m[1]));
      }
      return;
    }
    let frame: { type?: string; code?: string; channelId?: string; lastSeq?: number; expiresAt?: string; ref?: string };
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (frame.type === 'authenticated') {
      if (authTimer) clearTimeout(authTimer);
      authTimer = null;
      s.attempt = 0; // client.ts: live resets the backoff
      s.retriedAuth = false;
      s.tokenExpiresAt = Date.parse(frame.expiresAt!);
      s.authenticatedAt = epochNow();
      ws.send(JSON.stringify({ type: 'subscribe', channelId: st.args.channelId, ...(s.lastSeq ? { sinceSeq: s.lastSeq } : {}), ref: 'sub' }));
    } else if (frame.type === 'subscribed' && frame.channelId === st.args.channelId) {
      s.lastSeq = Math.max(s.lastSeq, frame.lastSeq ?? 0);
      s.state = 'live';
      if (s.droppedAt && !s.backAt) s.backAt = epochNow();
      done(true);
    } else if (frame.type === 'presence') {
      st.presenceFrames++;
    } else if (frame.type === 'error' && frame.ref === 'sub') {
      done(false, `subscribe_${frame.code}`);
      giveUp(st, s, `subscribe_${frame.code}`);
    }
  });
  ws.on('unexpected-response', (_req, res) => {
    failure = `http_${res.statusCode}`;
    ws.terminate();
  });
  ws.on('error', (err: NodeJS.ErrnoException) => {
    failure ??= err.code ?? err.message;
  });
  ws.on('close', (code) => {
    if (authTimer) clearTimeout(authTimer);
    if (gen !== s.gen || st.closing || s.state === 'stopped') return;
    const wasLive = s.state === 'live';
    s.ws = null;
    if (initial) {
      done(false, failure ?? `close_${code}`);
      s.state = 'stopped';
      return;
    }
    if (wasLive) {
      if (st.armed && !s.droppedAt) {
        s.droppedAt = epochNow();
        s.dropCode = code;
      }
    } else {
      fail(st, s, failure ?? `close_${code}`);
    }
    if (code === 4403) return giveUp(st, s, 'revoked_4403');
    if (code === 4401 && !s.retriedAuth) {
      s.retriedAuth = true;
      s.tokenExpiresAt = 0; // refused: fetch a fresh one
      void attempt(st, s);
      return;
    }
    scheduleRetry(st, s, code === 4429 ? RATE_LIMITED_BACKOFF : DEFAULT_BACKOFF);
  });
}

/** Opens `count` sockets (authenticate + subscribe), `concurrency` at a time; they reconnect by themselves from now on. */
export async function stormConnect(args: StormConnectArgs) {
  if (storm) throw new Error('a storm group is already open');
  const st: Storm = {
    args,
    sockets: [],
    failures: [],
    tokenRequests: 0,
    tokenFailures: 0,
    tokenMs: [],
    presenceFrames: 0,
    closing: false,
    armed: false,
  };
  storm = st;
  for (let i = 0; i < args.count; i++) {
    st.sockets.push(new StormSocket(i, args.creds[i % args.creds.length], args.localAddresses[i % args.localAddresses.length]));
  }
  const errors: Record<string, number> = {};
  let next = 0;
  let opened = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(args.concurrency, args.count) }, async () => {
      while (next < args.count) {
        const s = st.sockets[next++];
        const r = await new Promise<{ ok: boolean; why?: string }>((resolve) => void attempt(st, s, (ok, why) => resolve({ ok, why })));
        if (r.ok) opened++;
        else errors[r.why ?? '?'] = (errors[r.why ?? '?'] ?? 0) + 1;
      }
    }),
  );
  return { opened, failed: args.count - opened, elapsedMs: performance.now() - t0, errors };
}

/** From now on, a server close of a live socket is the storm: it is timed until the socket is back. */
export function stormArm() {
  if (!storm) throw new Error('no storm group');
  storm.armed = true;
  storm.failures = [];
  storm.tokenRequests = 0;
  storm.tokenFailures = 0;
  storm.tokenMs = [];
  storm.presenceFrames = 0;
  return { live: storm.sockets.filter((s) => s.state === 'live').length };
}

/** Cheap progress counts for the orchestrator's polling. */
export function stormStatus() {
  const st = storm;
  if (!st) throw new Error('no storm group');
  let dropped = 0;
  let back = 0;
  let gaveUp = 0;
  let live = 0;
  for (const s of st.sockets) {
    if (s.droppedAt) dropped++;
    if (s.backAt) back++;
    if (s.gaveUp) gaveUp++;
    if (s.state === 'live') live++;
  }
  return { total: st.sockets.length, dropped, back, gaveUp, live, at: epochNow() };
}

const q = (xs: number[], p: number) => (xs.length ? percentileOf(xs, p) : NaN);

/**
 * The storm's numbers, relative to `t0` (epoch ms: when the new server first answered /healthz).
 * backMs: t0 → subscribed again, per socket; waitMs: t0 → start of the attempt that succeeded
 * (backoff the server cannot shorten); attemptMs: that attempt's start → subscribed (the server's part).
 */
export function stormReport(args: { t0: number }) {
  const st = storm;
  if (!st) throw new Error('no storm group');
  const dropped = st.sockets.filter((s) => s.droppedAt);
  const backSockets = dropped.filter((s) => s.backAt);
  const backMs = backSockets.map((s) => s.backAt - args.t0);
  const waitMs = backSockets.map((s) => Math.max(0, s.lastAttemptAt - args.t0));
  const attemptMs = backSockets.map((s) => s.backAt - s.lastAttemptAt);
  const openMs = backSockets.map((s) => s.openAt - s.lastAttemptAt);
  const authMs = backSockets.map((s) => s.authenticatedAt - s.openAt);
  const subMs = backSockets.map((s) => s.backAt - s.authenticatedAt);
  const attempts = backSockets.map((s) => s.attemptsSinceDrop);
  const closeCodes: Record<string, number> = {};
  for (const s of dropped) closeCodes[String(s.dropCode)] = (closeCodes[String(s.dropCode)] ?? 0) + 1;
  const gaveUp: Record<string, number> = {};
  for (const s of st.sockets) if (s.gaveUp) gaveUp[s.gaveUp] = (gaveUp[s.gaveUp] ?? 0) + 1;
  const sorted = [...backMs].sort((a, b) => a - b);
  const n = st.sockets.length;
  /** Time until `frac` of all sockets (not only of those back) were back; NaN if never. */
  const until = (frac: number) => {
    const k = Math.ceil(frac * n);
    return k <= sorted.length ? sorted[k - 1] : NaN;
  };
  const dropSpread = dropped.map((s) => s.droppedAt);
  const failuresBefore: Record<string, number> = {};
  const failuresAfter: Record<string, number> = {};
  for (const [reason, at] of st.failures) {
    const h = at < args.t0 ? failuresBefore : failuresAfter;
    h[reason] = (h[reason] ?? 0) + 1;
  }
  return {
    sockets: n,
    dropped: dropped.length,
    back: backSockets.length,
    notBack: n - backSockets.length,
    gaveUp,
    closeCodes,
    backBeforeT0: backMs.filter((x) => x < 0).length,
    backMs: { p50: until(0.5), p90: until(0.9), p99: until(0.99), p100: until(1) },
    waitMs: { p50: q(waitMs, 50), p99: q(waitMs, 99), max: waitMs.length ? Math.max(...waitMs) : NaN },
    attemptMs: { p50: q(attemptMs, 50), p99: q(attemptMs, 99), max: attemptMs.length ? Math.max(...attemptMs) : NaN },
    /** The successful attempt in three: upgrade (open), authenticate → authenticated, subscribe → subscribed. */
    openMs: { p50: q(openMs, 50), p99: q(openMs, 99) },
    authMs: { p50: q(authMs, 50), p99: q(authMs, 99) },
    subMs: { p50: q(subMs, 50), p99: q(subMs, 99) },
    /** Seconds after t0 → sockets back in that second. */
    backPerSecond: backMs.reduce<Record<string, number>>((h, ms) => {
      const k = String(Math.floor(ms / 1000));
      h[k] = (h[k] ?? 0) + 1;
      return h;
    }, {}),
    attempts: { p50: q(attempts, 50), p99: q(attempts, 99), max: attempts.length ? Math.max(...attempts) : NaN, total: attempts.reduce((a, b) => a + b, 0) },
    /** Failed attempts by reason, started before and after t0 (before: the server was down). */
    failuresBefore,
    failuresAfter,
    tokenRequests: st.tokenRequests,
    tokenFailures: st.tokenFailures,
    tokenMs: { p50: q(st.tokenMs, 50), p99: q(st.tokenMs, 99) },
    presenceFrames: st.presenceFrames,
    firstDropAt: dropSpread.length ? Math.min(...dropSpread) : NaN,
    lastDropAt: dropSpread.length ? Math.max(...dropSpread) : NaN,
  };
}

/** Closes every storm socket (1000) and forgets the group; nothing reconnects any more. */
export async function stormClose(args: { timeoutMs?: number } = {}) {
  const st = storm;
  if (!st) return { closed: 0 };
  st.closing = true;
  storm = undefined;
  const waits: Promise<void>[] = [];
  for (const s of st.sockets) {
    if (s.timer) clearTimeout(s.timer);
    const ws = s.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) continue;
    waits.push(new Promise<void>((resolve) => ws.once('close', () => resolve())));
    try {
      ws.close(1000);
    } catch {
      ws.terminate();
    }
  }
  const timeout = args.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([Promise.all(waits).then(() => 'closed'), new Promise((res) => (timer = setTimeout(() => res('timeout'), timeout)))]);
  clearTimeout(timer);
  if (r === 'timeout') for (const s of st.sockets) s.ws?.terminate();
  return { closed: waits.length, timedOut: r === 'timeout' };
}
