/**
 * Proof of possession on /ws (CONTRACT "(v2) Proof of possession", `/ws` rule 2 and `refresh`;
 * SPEC POP2–POP5), on the real server with real sockets: a bound device's token opens a socket,
 * and refreshes it, only with a proof by the device's key over this socket's latest nonce.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { deviceKey, hs256Jws, nowS, ath, unsignedJws, type TestDeviceKey } from '../test/pop.js';
import { openSocket, type TestSocket } from '../test/ws-client.js';

const INVALID_PROOF = { code: 4401, reason: 'invalid_proof' };

describe('proof of possession on /ws', () => {
  let server: TestServer;
  let key: TestDeviceKey;
  let bob: HttpClient;

  /** A socket of bob's device, with the challenge taken. */
  const open = async (client = bob): Promise<{ s: TestSocket; nonce: string }> => {
    const s = await openSocket(server.url, client);
    const challenge = await s.next('challenge');
    return { s, nonce: challenge.nonce };
  };
  const authenticated = async () => {
    const { s, nonce } = await open();
    s.send({ type: 'authenticate', token: bob.token, proof: await key.socketProof(nonce, bob.token), ref: 'a' });
    return { s, frame: await s.next('authenticated') };
  };

  beforeAll(async () => {
    server = await startTestServer();
    key = await deviceKey();
    bob = await server.register('wspop', undefined, { deviceKey: key.publicJwk });
  });
  afterAll(() => server?.close());

  it('POP2: the challenge is the first frame, its nonce unique per socket; authenticated and refreshed bring fresh ones', async () => {
    const one = await open();
    const two = await open();
    expect(one.s.frames[0]).toEqual({ type: 'challenge', nonce: one.nonce });
    expect(one.nonce).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(two.nonce).not.toBe(one.nonce);
    one.s.close();
    two.s.close();

    const { s, frame } = await authenticated();
    expect(s.frames.map((f) => f.type)).toEqual(['challenge', 'authenticated']);
    expect(frame).toMatchObject({ deviceId: bob.deviceId, ref: 'a' });
    const nonces = [s.frames[0].nonce, frame.nonce];
    for (let i = 0; i < 2; i++) {
      s.send({ type: 'refresh', token: bob.token, proof: await key.socketProof(nonces.at(-1)!, bob.token), ref: `r${i}` });
      const refreshed = await s.next('refreshed');
      expect(refreshed.ref).toBe(`r${i}`);
      nonces.push(refreshed.nonce);
    }
    expect(new Set(nonces).size).toBe(4);
    s.close();
  });

  it('POP3: a bound device unproven, or proven by another key, another token, a bad typ, alg none or HS256: 4401 invalid_proof', async () => {
    const attacker = await deviceKey();
    const other = await server.login('wspop', undefined, { deviceKey: attacker.publicJwk }); // another device, another token
    const publicBytes = new TextEncoder().encode(JSON.stringify(key.publicJwk));
    const attacks: Record<string, (nonce: string) => Promise<string | undefined>> = {
      'no proof': async () => undefined,
      'another key': (nonce) => attacker.socketProof(nonce, bob.token),
      'over another token': (nonce) => key.socketProof(nonce, other.token),
      'typ of a DPoP proof': (nonce) => key.socketProof(nonce, bob.token, { typ: 'dpop+jwt' }),
      'alg none': async (nonce) => unsignedJws({ typ: 'relay-pop+jwt' }, { nonce, ath: ath(bob.token), iat: nowS() }),
      HS256: (nonce) => hs256Jws({ typ: 'relay-pop+jwt' }, { nonce, ath: ath(bob.token), iat: nowS() }, publicBytes),
      garbage: async () => 'x.y.z',
    };
    for (const [name, make] of Object.entries(attacks)) {
      const { s, nonce } = await open();
      s.send({ type: 'authenticate', token: bob.token, proof: await make(nonce) });
      expect(await s.waitClose(), name).toEqual(INVALID_PROOF);
      expect(s.all('authenticated'), name).toEqual([]);
    }
  });

  it('POP4: a proof for another socket\'s nonce, a replayed one, or one 5 minutes old or ahead: 4401 invalid_proof', async () => {
    const first = await open();
    const second = await open();
    // The nonce of the first socket, used on the second.
    second.s.send({ type: 'authenticate', token: bob.token, proof: await key.socketProof(first.nonce, bob.token) });
    expect(await second.s.waitClose()).toEqual(INVALID_PROOF);
    first.s.close();

    for (const iat of [nowS() - 300, nowS() + 300]) {
      const { s, nonce } = await open();
      s.send({ type: 'authenticate', token: bob.token, proof: await key.socketProof(nonce, bob.token, { iat }) });
      expect(await s.waitClose(), `iat ${iat - nowS()} s`).toEqual(INVALID_PROOF);
    }

    // Replay on the same socket: the authenticate proof again for a refresh (its nonce is spent).
    const { s, nonce } = await open();
    const proof = await key.socketProof(nonce, bob.token);
    s.send({ type: 'authenticate', token: bob.token, proof });
    await s.next('authenticated');
    s.send({ type: 'refresh', token: bob.token, proof });
    expect(await s.waitClose()).toEqual(INVALID_PROOF);
  });

  it('POP4: a refresh proof is good once; a refresh without a proof closes the socket', async () => {
    const a = await authenticated();
    const proof = await key.socketProof(a.frame.nonce, bob.token);
    a.s.send({ type: 'refresh', token: bob.token, proof, ref: 'r1' });
    await a.s.next('refreshed');
    a.s.send({ type: 'refresh', token: bob.token, proof, ref: 'r2' });
    expect(await a.s.waitClose()).toEqual(INVALID_PROOF);
    expect(a.s.all('refreshed').map((f) => f.ref)).toEqual(['r1']);

    const b = await authenticated();
    b.s.send({ type: 'refresh', token: bob.token });
    expect(await b.s.waitClose()).toEqual(INVALID_PROOF);
  });

  it('POP3: an unbound device still authenticates and refreshes without a proof (DEVICE_BINDING=optional)', async () => {
    const plain = await server.register('wsplain');
    const s = await openSocket(server.url, plain);
    await s.next('challenge');
    s.send({ type: 'authenticate', token: plain.token });
    expect((await s.next('authenticated')).nonce).toEqual(expect.any(String));
    s.send({ type: 'refresh', token: plain.token, ref: 'r' });
    expect((await s.next('refreshed')).nonce).toEqual(expect.any(String));
    s.close();
  });
});
