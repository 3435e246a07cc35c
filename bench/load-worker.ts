/**
 * The load generator, one child process driven by bench/run.ts over IPC. The same client code
 * (the `ws` package, no compression) speaks all three protocols, so differences come from the
 * servers, not from client libraries:
 *   raw    {"type":"sub"} / {"type":"send","body"}               → {"type":"message","body"}
 *   sio    Engine.IO v4 + Socket.IO v4 packets over a WebSocket  → 42["m", body]
 *          (0 open → "40" connect → 40{sid}; 42["sub"]; 42["send", body]; ping "2" → pong "3")
 *   relay  Cookie + Origin on the upgrade, authenticate, subscribe, send → message / ack
 *
 * Counting is cheap on purpose (a Buffer search for the body marker, no JSON.parse): the receivers
 * share this machine's two cores with the server under test. Every send→deliver latency is taken
 * in this process, on one clock (performance.now() embedded in the body).
 *
 * Every loop here is bounded: connects by count and timeout, send loops by maxDurationMs.
 */
import WebSocket from 'ws';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { publicMembers, socketProof, type ProofKey } from '../shared/proofs.js';
import { Histogram, MARKER, makeBody, serveRpc, sleep, type LatencySummary } from './common.js';
import { stormArm, stormClose, stormConnect, stormReport, stormStatus } from './storm-client.js';

type Proto = 'raw' | 'sio' | 'relay';

export interface Target {
  proto: Proto;
  host: string;
  port: number;
  /** Relay: the Origin header to send (the server's own origin). */
  origin?: string;
}

export interface Cred {
  cookie: string;
  token: string;
  /** A bound device's private key (a bench key, so a JWK): its sockets prove possession over the challenge nonce. */
  key?: JWK;
}

/** Imported once per device key (its `x`), as a browser loads its key once per page. */
const proofKeys = new Map<string, Promise<ProofKey>>();
function proofKeyOf(jwk: JWK): Promise<ProofKey> {
  let key = proofKeys.get(jwk.x!);
  if (!key) {
    key = importJWK(jwk, 'ES256').then((privateKey) => ({ privateKey: privateKey as CryptoKey, publicJwk: publicMembers(jwk) }));
    proofKeys.set(jwk.x!, key);
  }
  return key;
}

export interface ConnectArgs {
  target: Target;
  count: number;
  concurrency: number;
  /** Relay: socket i uses creds[i % creds.length]. */
  creds?: Cred[];
  /** Join the room / subscribe to this channel after connecting. */
  subscribe?: { channelId?: string };
  localAddresses?: string[];
  group: string;
  timeoutMs?: number;
}

export interface ConnectResult {
  opened: number;
  failed: number;
  elapsedMs: number;
  perSecond: number;
  handshake: LatencySummary;
  errors: Record<string, number>;
}

const ACK = Buffer.from('"type":"ack"');
const ERROR = Buffer.from('"type":"error"');
const MARKER_BUF = Buffer.from(MARKER);
const PIPE = 0x7c;

class BenchSocket {
  sender = false;
  subscribed = false;
  /** Closed by us (closeGroups/closeAll): not a server-side close worth reporting. */
  closing = false;
  closeCode: number | undefined;
  constructor(
    readonly ws: WebSocket,
    readonly proto: Proto,
    readonly group: string,
    readonly target: Target,
  ) {}
}

const pool: BenchSocket[] = [];
/** Latency histograms by key; deliveries are recorded only while `recording` names one. */
const histograms = new Map<string, Histogram>();
let recording: Histogram | undefined;
/** Optionally a second histogram of the same deliveries (one window's, next to the pooled one). */
let recordingWindow: Histogram | undefined;
const counters = { delivered: 0, acks: 0, errors: 0, sent: 0, closedAfterSetup: 0, stalls: 0 };
const closeCodes: Record<string, number> = {};
const errorSamples: string[] = [];

// ------------------------------------------------------------------------------ receiving

function onData(this: BenchSocket, data: Buffer): void {
  if (this.proto === 'sio' && data.length === 1 && data[0] === 0x32) {
    this.ws.send('3'); // Engine.IO ping → pong
    return;
  }
  const i = data.indexOf(MARKER_BUF);
  if (i < 0) {
    if (data.indexOf(ERROR) >= 0) {
      counters.errors++;
      if (errorSamples.length < 5) errorSamples.push(data.toString().slice(0, 300));
    }
    return;
  }
  // Relay answers the sending socket with an ack (carrying the stored message) instead of a
  // message frame; raw ws and Socket.IO echo the broadcast to the sender. Either way the sender's
  // copy counts as one delivery, so every protocol delivers exactly `subscribers` per message.
  if (this.sender && this.proto === 'relay') {
    const a = data.indexOf(ACK);
    if (a >= 0 && a < i) counters.acks++;
  }
  counters.delivered++;
  // BENCH|<seq>|<sentAt>|
  const a = data.indexOf(PIPE, i + MARKER_BUF.length);
  const b = data.indexOf(PIPE, a + 1);
  if (recording && a > 0 && b > a) {
    const ms = performance.now() - Number(data.toString('latin1', a + 1, b));
    recording.record(ms);
    recordingWindow?.record(ms);
  }
  if (run && run.mode === 'closed') pump();
}

// ------------------------------------------------------------------------------ connecting

function url(t: Target): string {
  if (t.proto === 'sio') return `ws://${t.host}:${t.port}/socket.io/?EIO=4&transport=websocket`;
  return `ws://${t.host}:${t.port}/ws`;
}

function connectOne(args: ConnectArgs, index: number): Promise<BenchSocket> {
  const t = args.target;
  const headers: Record<string, string> = {};
  const cred = args.creds?.length ? args.creds[index % args.creds.length] : undefined;
  if (t.proto === 'relay') {
    if (!cred) throw new Error('relay sockets need creds');
    headers.Cookie = cred.cookie;
    if (t.origin) headers.Origin = t.origin;
  }
  const localAddress = args.localAddresses?.length ? args.localAddresses[index % args.localAddresses.length] : undefined;
  const ws = new WebSocket(url(t), {
    headers,
    perMessageDeflate: false,
    skipUTF8Validation: true,
    handshakeTimeout: args.timeoutMs ?? 15_000,
    localAddress,
  });
  const s = new BenchSocket(ws, t.proto, args.group, t);
  const channelId = args.subscribe?.channelId;
  const wantSub = !!args.subscribe;

  return new Promise<BenchSocket>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(new Error('setup_timeout')), args.timeoutMs ?? 15_000);
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.off('message', onSetup);
      ws.on('message', onData.bind(s));
      if (wantSub) s.subscribed = true;
      resolve(s);
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.off('message', onSetup);
      ws.terminate();
      reject(err);
    };
    const send = (frame: unknown) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));

    function onSetup(raw: Buffer): void {
      const text = raw.toString();
      if (t.proto === 'raw') {
        if (text.includes('"subbed"')) done();
        return;
      }
      if (t.proto === 'sio') {
        if (text === '2') return send('3');
        if (text.startsWith('0')) return send('40');
        if (text.startsWith('40')) return wantSub ? send('42["sub"]') : done();
        if (text.startsWith('42["subbed"')) return done();
        if (text.startsWith('44')) return fail(new Error(`sio_connect_error ${text.slice(0, 100)}`));
        return;
      }
      // relay
      let frame: { type?: string; code?: string; channelId?: string; ref?: string; nonce?: string };
      try {
        frame = JSON.parse(text);
      } catch {
        return fail(new Error('relay_non_json'));
      }
      if (frame.type === 'challenge' && cred!.key) {
        // A bound device signs the socket's nonce and the token's hash (shared/proofs.ts, as the browser does).
        const { token, key } = cred!;
        proofKeyOf(key!)
          .then((k) => socketProof(k, frame.nonce!, token))
          .then((proof) => send({ type: 'authenticate', token, proof }), fail);
      } else if (frame.type === 'authenticated') {
        if (wantSub) send({ type: 'subscribe', channelId, ref: 'sub' });
        else done();
      } else if (frame.type === 'subscribed' && frame.channelId === channelId) {
        done();
      } else if (frame.type === 'error') {
        fail(new Error(`relay_error_${frame.code}`));
      }
    }

    ws.on('message', onSetup);
    ws.on('open', () => {
      if (t.proto === 'raw') {
        if (wantSub) send({ type: 'sub' });
        else done();
      } else if (t.proto === 'relay') {
        // An unbound device authenticates at once; a bound one waits for the challenge (above).
        if (!cred!.key) send({ type: 'authenticate', token: cred!.token });
      }
    });
    ws.on('unexpected-response', (_req, res) => fail(new Error(`http_${res.statusCode}`)));
    ws.on('error', (err: NodeJS.ErrnoException) => fail(new Error(err.code ?? err.message)));
    ws.on('close', (code, reason) => {
      s.closeCode = code;
      const key = `${code}${reason.length ? ' ' + reason.toString() : ''}`;
      if (!settled) return fail(new Error(`close_${key}`));
      if (s.closing) return;
      counters.closedAfterSetup++;
      closeCodes[key] = (closeCodes[key] ?? 0) + 1;
      if (s.sender && run && !run.finished) {
        // A sender that disappears would stall the run: take it out of the rotation.
        run.senders = run.senders.filter((x) => x !== s);
      }
    });
  });
}

async function connect(args: ConnectArgs): Promise<ConnectResult> {
  const hist = new Histogram();
  const errors: Record<string, number> = {};
  let next = 0;
  let opened = 0;
  let failed = 0;
  const start = performance.now();
  const lane = async () => {
    while (next < args.count) {
      const i = next++;
      const t0 = performance.now();
      try {
        pool.push(await connectOne(args, i));
        hist.record(performance.now() - t0);
        opened++;
      } catch (err) {
        failed++;
        const key = (err as Error).message;
        errors[key] = (errors[key] ?? 0) + 1;
        // Persistent failures (e.g. a server refusing everything) must not spin: back off a little.
        if (failed > 50 && failed > opened) await sleep(20);
        if (failed > Math.max(200, args.count / 2)) next = args.count;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(args.concurrency, args.count)) }, lane));
  const elapsedMs = performance.now() - start;
  return { opened, failed, elapsedMs, perSecond: (opened / elapsedMs) * 1000, handshake: hist.summary(), errors };
}

// ------------------------------------------------------------------------------ sending

interface RunArgs {
  mode: 'closed' | 'open';
  /** The sockets (by connect group) that receive this run's messages. */
  groups: string[];
  /** Number of sockets (from senderGroup, in connection order) that take turns sending. */
  senders: number;
  senderGroup?: string;
  /** closed: messages in flight (counted in deliveries at the receivers). */
  windowMsgs?: number;
  /** open: messages per second. */
  rate?: number;
  maxDurationMs: number;
  /** Relay: channel to send to, and a prefix making clientMsgIds unique in this run. */
  channelId?: string;
  msgPrefix: string;
}

interface Run {
  mode: 'closed' | 'open';
  senders: BenchSocket[];
  subscribers: number;
  windowDeliveries: number;
  rate: number;
  start: number;
  deadline: number;
  channelId?: string;
  prefix: string;
  rr: number;
  finished: boolean;
  overloaded: boolean;
  lostCredit: number;
  sent0: number;
  delivered0: number;
  lastProgressAt: number;
  lastDelivered: number;
  timer?: NodeJS.Timeout;
}

let run: Run | undefined;

function sendOne(r: Run): void {
  if (r.senders.length === 0) {
    finish(r);
    return;
  }
  const s = r.senders[r.rr++ % r.senders.length];
  const seq = counters.sent++;
  const body = makeBody(seq, performance.now());
  let frame: string;
  if (s.proto === 'raw') frame = `{"type":"send","body":"${body}"}`;
  else if (s.proto === 'sio') frame = `42["send","${body}"]`;
  else frame = `{"type":"send","channelId":"${r.channelId}","clientMsgId":"${r.prefix}-${seq}","body":"${body}"}`;
  s.ws.send(frame);
}

function inFlight(r: Run): number {
  return (counters.sent - r.sent0) * r.subscribers - (counters.delivered - r.delivered0) - r.lostCredit;
}

function pump(): void {
  const r = run!;
  if (r.finished) return;
  while (inFlight(r) < r.windowDeliveries) sendOne(r);
}

function finish(r: Run): void {
  r.finished = true;
  if (r.timer) clearInterval(r.timer);
}

function startRun(args: RunArgs): { subscribers: number; senders: number } {
  if (run && !run.finished) finish(run);
  const inRun = pool.filter((s) => s.subscribed && s.closeCode === undefined && args.groups.includes(s.group));
  const subscribers = inRun.length;
  const candidates = inRun.filter((s) => !args.senderGroup || s.group === args.senderGroup);
  if (subscribers === 0 || candidates.length === 0) throw new Error(`no subscribed sockets in ${args.groups.join(',')}`);
  for (const s of pool) s.sender = false;
  const senders = candidates.slice(0, Math.max(1, args.senders));
  for (const s of senders) s.sender = true;
  const now = performance.now();
  const r: Run = {
    mode: args.mode,
    senders,
    subscribers,
    windowDeliveries: (args.windowMsgs ?? 10) * subscribers,
    rate: args.rate ?? 0,
    start: now,
    deadline: now + args.maxDurationMs,
    channelId: args.channelId,
    prefix: args.msgPrefix,
    rr: 0,
    finished: false,
    overloaded: false,
    lostCredit: 0,
    sent0: counters.sent,
    delivered0: counters.delivered,
    lastProgressAt: now,
    lastDelivered: counters.delivered,
  };
  run = r;
  const sentAtStart = r.sent0;
  r.timer = setInterval(() => {
    const t = performance.now();
    if (t >= r.deadline) return finish(r);
    if (counters.delivered !== r.lastDelivered) {
      r.lastDelivered = counters.delivered;
      r.lastProgressAt = t;
    }
    if (r.mode === 'closed') {
      // A lost message (or a dropped frame) would hold the window forever: after 2 s without any
      // delivery, write the in-flight deliveries off and go on.
      if (t - r.lastProgressAt > 2_000 && inFlight(r) > 0) {
        counters.stalls++;
        r.lostCredit += inFlight(r);
        r.lastProgressAt = t;
      }
      pump();
    } else {
      // Open loop: a fixed schedule, whatever the server does, unless the backlog gets absurd
      // (more than 5 s of deliveries outstanding) — then stop sending and say so.
      if (inFlight(r) > Math.max(r.rate * r.subscribers * 5, 10 * r.subscribers)) {
        r.overloaded = true;
        return finish(r);
      }
      const due = Math.floor(((t - r.start) * r.rate) / 1000);
      let guard = 0;
      while (counters.sent - sentAtStart < due && guard++ < 1000) sendOne(r);
    }
  }, r.mode === 'closed' ? 20 : 2);
  if (r.mode === 'closed') pump();
  return { subscribers, senders: senders.length };
}

async function stopRun(args: { drainMs: number }) {
  const r = run;
  if (!r) return { sent: counters.sent, delivered: counters.delivered, expectedMissing: 0, overloaded: false };
  finish(r);
  const deadline = performance.now() + args.drainMs;
  while (inFlight(r) > 0 && performance.now() < deadline) await sleep(20);
  return {
    sent: counters.sent,
    delivered: counters.delivered,
    missing: Math.max(0, inFlight(r)),
    writtenOff: r.lostCredit,
    overloaded: r.overloaded,
    stalls: counters.stalls,
  };
}

function snapshot() {
  return {
    at: performance.now(),
    ...counters,
    running: !!run && !run.finished,
    overloaded: run?.overloaded ?? false,
    inFlight: run ? inFlight(run) : 0,
    closeCodes: { ...closeCodes },
    errorSamples: [...errorSamples],
  };
}

/** Starts recording latencies into histogram `key` (and `windowKey`; created on first use), or stops (null). */
function record(args: { key: string | null; windowKey?: string }) {
  if (args.key === null) {
    recording = recordingWindow = undefined;
    return true;
  }
  const get = (key: string) => {
    let h = histograms.get(key);
    if (!h) histograms.set(key, (h = new Histogram()));
    return h;
  };
  recording = get(args.key);
  recordingWindow = args.windowKey ? get(args.windowKey) : undefined;
  return true;
}

/** Closes these sockets (1000), terminating any that have not closed within the timeout. */
async function closeSockets(sockets: typeof pool, timeoutMs = 10_000) {
  const waits = sockets.map(
    (s) =>
      new Promise<void>((resolve) => {
        if (s.ws.readyState === WebSocket.CLOSED) return resolve();
        s.closing = true;
        s.ws.once('close', () => resolve());
        try {
          s.ws.close(1000);
        } catch {
          s.ws.terminate();
        }
      }),
  );
  const result = await Promise.race([Promise.all(waits).then(() => 'closed'), sleep(timeoutMs).then(() => 'timeout')]);
  if (result === 'timeout') for (const s of sockets) s.ws.terminate();
  return { closed: sockets.length, timedOut: result === 'timeout' };
}

/** Closes the sockets of the given groups (all when none given). */
async function closeGroups(args: { groups?: string[]; timeoutMs?: number }) {
  const sockets = args.groups ? pool.filter((s) => args.groups!.includes(s.group)) : pool.slice();
  for (let i = pool.length - 1; i >= 0; i--) if (sockets.includes(pool[i])) pool.splice(i, 1);
  return closeSockets(sockets, args.timeoutMs);
}

async function closeAll(args: { timeoutMs?: number } = {}) {
  if (run) finish(run);
  run = undefined;
  const result = await closeSockets(pool.splice(0), args.timeoutMs);
  for (const k of Object.keys(closeCodes)) delete closeCodes[k];
  errorSamples.length = 0;
  counters.closedAfterSetup = 0;
  return result;
}

serveRpc({
  connect: (args: ConnectArgs) => connect(args),
  run: (args: RunArgs) => startRun(args),
  stop: (args: { drainMs: number }) => stopRun(args),
  snapshot: () => snapshot(),
  record: (args: { key: string | null; windowKey?: string }) => record(args),
  latency: (args: { key: string }) => histograms.get(args.key)?.summary(),
  closeGroups: (args: { groups?: string[]; timeoutMs?: number }) => closeGroups(args),
  closeAll: (args: { timeoutMs?: number }) => closeAll(args),
  cpu: () => {
    const u = process.cpuUsage();
    return { userUs: u.user, systemUs: u.system };
  },
  count: () => ({ open: pool.filter((s) => s.ws.readyState === WebSocket.OPEN).length, total: pool.length }),
  // Reconnect storm (bench/storm-client.ts): sockets that come back by themselves, as the browser's.
  stormConnect,
  stormArm,
  stormStatus,
  stormReport,
  stormClose,
});
process.send?.({ ready: true });
