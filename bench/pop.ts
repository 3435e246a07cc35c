/**
 * The "auth with proofs" part (`--only=pop`): what proof of possession (CONTRACT "(v2) Proof of
 * possession", SPEC POP1–POP7) costs a socket's sign-in, next to raw `ws` handshakes measured in
 * the same run.
 *
 * - Bound devices: each bench user signs in once more with a device key (a new device, bound);
 *   its sockets wait for the server's `challenge` and send `authenticate` with a proof over that
 *   nonce and the token's hash, signed with shared/proofs.ts as the browser does (the load worker
 *   imports each key once). The token is held, as a client holds it between reconnects.
 * - Unbound devices: the bench users' first devices, `authenticate` with the token only.
 * - Batches of sockets opened 50 at a time, taken in turn (raw, unbound, bound, rotating), each
 *   closed again before the next, with the server process's CPU (`process.cpuUsage`, so libuv's
 *   pool, where WebCrypto verifies, included) read around each batch.
 * - The ES256 costs one at a time in this process: the client's sign, the server's verify as
 *   `server/auth/pop.ts` does it (jose over an imported WebCrypto key), and for comparison a
 *   synchronous `node:crypto` verify with a KeyObject.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { importDeviceKey, verifySocketProof } from '../server/auth/pop.js';
import { publicMembers, socketProof, type ProofKey } from '../shared/proofs.js';
import { percentileOf, sleep, type Child } from './common.js';
import type { ConnectResult, Cred, Target } from './load-worker.js';
import { BENCH_PASSWORD, mapLimit, RelayHttp } from './relay-http.js';

export interface PopContender {
  key: 'raw' | 'unbound' | 'bound';
  server: Child;
  target: Target;
  creds?: Cred[];
}

export interface ConnRate {
  opened: number;
  failed: number;
  elapsedMs: number;
  perSecond: number;
  handshakeP50: number;
  handshakeP99: number;
  /** Server process CPU (main thread and libuv pool) per opened socket. */
  serverCpuUsPerConn: number;
  /** The load worker's CPU per opened socket (a bound socket's proof is signed there). */
  clientCpuUsPerConn: number;
  errors: Record<string, number>;
}

export interface Es256Costs {
  samples: number;
  signUs: number;
  verifyUs: number;
  nodeVerifyUs: number;
  importUs: number;
}

export interface PopResult {
  batches: number;
  perBatch: number;
  rates: Record<PopContender['key'], ConnRate>;
  es256: Es256Costs;
}

/** Each user signs in once more with a new device key: that device is bound. Before the measured process starts. */
export async function bindBenchDevices(url: string, usernames: string[]): Promise<Cred[]> {
  return mapLimit(usernames, 4, async (username) => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const c = new RelayHttp(url);
    const deviceKey = publicMembers(await exportJWK(publicKey));
    c.auth = await c.expect('POST', '/api/auth/login', { username, password: BENCH_PASSWORD, deviceName: 'bench-bound', deviceKey }, 200);
    if (!c.auth.device.bound) throw new Error(`${username}: the device did not bind`);
    return { cookie: c.cookieHeader(), token: c.auth.token as string, key: await exportJWK(privateKey) };
  });
}

async function cpuUs(server: Child): Promise<number> {
  const s = await server.call<{ userUs: number; systemUs: number }>('cpu');
  return s.userUs + s.systemUs;
}

/** Connection batches in turn; every batch is closed (and its departures left to settle) before the next. */
export async function measureAuthWithProofs(
  worker: Child,
  contenders: PopContender[],
  opts: { batches: number; perBatch: number; concurrency: number; localAddresses: string[]; log: (m: string) => void },
): Promise<PopResult> {
  const args = (c: PopContender, count: number, group: string) => ({
    target: c.target,
    count,
    concurrency: opts.concurrency,
    creds: c.creds,
    group,
    localAddresses: opts.localAddresses,
  });
  // Warm-up: JIT, the worker's key imports, the server's prepared statements.
  for (const c of contenders) {
    const r = await worker.call<ConnectResult>('connect', args(c, 100, `pop-warm-${c.key}`));
    if (r.failed) throw new Error(`auth with proofs, ${c.key}: ${r.failed} warm-up sockets failed: ${JSON.stringify(r.errors)}`);
  }
  await worker.call('closeGroups', { groups: contenders.map((c) => `pop-warm-${c.key}`) });
  await sleep(1_000);

  const runs = new Map<string, Array<ConnectResult & { cpuUs: number; clientUs: number }>>(contenders.map((c) => [c.key, []]));
  for (let round = 0; round < opts.batches; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const c of order) {
      const group = `pop-${c.key}`;
      const [cpu0, client0] = await Promise.all([cpuUs(c.server), cpuUs(worker)]);
      const r = await worker.call<ConnectResult>('connect', args(c, opts.perBatch, group));
      const [cpu1, client1] = await Promise.all([cpuUs(c.server), cpuUs(worker)]);
      runs.get(c.key)!.push({ ...r, cpuUs: cpu1 - cpu0, clientUs: client1 - client0 });
      await worker.call('closeGroups', { groups: [group] });
      // The closes (presence departures) are the server's work too, but not the next batch's.
      await sleep(500);
    }
    opts.log(`auth with proofs round ${round + 1}/${opts.batches}: ${order.map((c) => `${c.key} ${Math.round(runs.get(c.key)!.at(-1)!.perSecond)}/s`).join(', ')}`);
  }

  const rates = {} as PopResult['rates'];
  for (const c of contenders) {
    const list = runs.get(c.key)!;
    const opened = list.reduce((a, r) => a + r.opened, 0);
    const elapsedMs = list.reduce((a, r) => a + r.elapsedMs, 0);
    const errors: Record<string, number> = {};
    for (const r of list) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    rates[c.key] = {
      opened,
      failed: list.reduce((a, r) => a + r.failed, 0),
      elapsedMs,
      perSecond: (opened / elapsedMs) * 1000,
      handshakeP50: percentileOf(list.map((r) => r.handshake.p50), 50),
      handshakeP99: Math.max(...list.map((r) => r.handshake.p99)),
      serverCpuUsPerConn: list.reduce((a, r) => a + r.cpuUs, 0) / Math.max(1, opened),
      clientCpuUsPerConn: list.reduce((a, r) => a + r.clientUs, 0) / Math.max(1, opened),
      errors,
    };
  }
  return { batches: opts.batches, perBatch: opts.perBatch, rates, es256: await es256Costs(opts.perBatch) };
}

/** µs per operation, one at a time (so WebCrypto's hop to libuv's pool is in it, as on the server). */
async function es256Costs(samples: number): Promise<Es256Costs> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = publicMembers(await exportJWK(publicKey)) as JWK & { kty: 'EC'; crv: 'P-256'; x: string; y: string };
  const key: ProofKey = { privateKey: (await importJWK(await exportJWK(privateKey), 'ES256')) as CryptoKey, publicJwk };
  const token = 'x'.repeat(300);
  const nonces = Array.from({ length: samples }, (_, i) => `nonce-${i}`);
  const time = async (fn: (i: number) => Promise<unknown> | unknown) => {
    const t0 = performance.now();
    for (let i = 0; i < samples; i++) await fn(i);
    return ((performance.now() - t0) * 1000) / samples;
  };
  const proofs: string[] = [];
  const signUs = await time(async (i) => proofs.push(await socketProof(key, nonces[i], token)));
  const imported = await importDeviceKey(publicJwk);
  const verifyUs = await time(async (i) => {
    if (!(await verifySocketProof(proofs[i], imported, { nonce: nonces[i], token }))) throw new Error('a bench proof did not verify');
  });
  const keyObject = createPublicKey({ key: publicJwk, format: 'jwk' });
  const nodeVerifyUs = await time((i) => {
    const [h, p, s] = proofs[i].split('.');
    if (!nodeVerify('sha256', Buffer.from(`${h}.${p}`), { key: keyObject, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))) throw new Error('node verify failed');
  });
  const importUs = await time(() => importDeviceKey(publicJwk));
  return { samples, signUs, verifyUs, nodeVerifyUs, importUs };
}

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? '—' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !b ? undefined : a / b);

/** The bound devices' authenticated conn/s over raw ws handshakes/s (the target's ratio). */
export function boundVsRaw(r: PopResult | undefined): number | undefined {
  return ratio(r?.rates.bound?.perSecond, r?.rates.raw?.perSecond);
}

export function popRows(r: PopResult): string[][] {
  const { raw, unbound, bound } = r.rates;
  const rows: string[][] = [
    [`Auth with proofs (${r.batches} × ${fmt(r.perBatch)} sockets each, 50 at a time)`, 'raw ws', 'Relay unbound', 'Relay bound', 'bound/raw', 'unbound/raw'],
  ];
  const row = (name: string, f: (c: ConnRate) => number, digits = 0, ratios = true) =>
    rows.push([name, fmt(f(raw), digits), fmt(f(unbound), digits), fmt(f(bound), digits), ratios ? fmt(ratio(f(bound), f(raw)), 2) : '', ratios ? fmt(ratio(f(unbound), f(raw)), 2) : '']);
  row('connections/s (Relay: authenticated)', (c) => c.perSecond);
  row('  handshake p50 ms', (c) => c.handshakeP50, 1, false);
  row('  handshake p99 ms (worst batch)', (c) => c.handshakeP99, 1, false);
  row('  server process CPU µs per connection', (c) => c.serverCpuUsPerConn);
  rows.push(['  bound − unbound, server CPU µs per connection', '', '', fmt(bound.serverCpuUsPerConn - unbound.serverCpuUsPerConn), '', '']);
  row('  load-gen CPU µs per connection (signs the proofs)', (c) => c.clientCpuUsPerConn);
  const e = r.es256;
  rows.push([`ES256, one at a time (n=${fmt(e.samples)}): client sign µs`, '', '', fmt(e.signUs), '', '']);
  rows.push(['  server verify µs (jose + WebCrypto, as pop.ts)', '', '', fmt(e.verifyUs), '', '']);
  rows.push(['  verify µs with node:crypto KeyObject (sync)', '', '', fmt(e.nodeVerifyUs), '', '']);
  rows.push(['  key import µs (once per device per instance)', '', '', fmt(e.importUs), '', '']);
  return rows;
}
