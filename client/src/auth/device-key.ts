/**
 * This browser's device key (CONTRACT "(v2) Proof of possession"): every sign-in makes a new EC
 * P-256 key pair whose private key cannot be exported, sends its public JWK as `deviceKey`, and
 * keeps the pair in IndexedDB (idb-keyval, database `relay`, store `saved`, record `device-key`)
 * so later page loads prove possession with it: DPoP on every /api request of the session
 * (currentProofKey, SPEC POP8) and on token requests, a proof on the socket.
 *
 * Guarantees:
 * - The private key is made non-extractable and only ever stored as a CryptoKey (structured
 *   clone): no page script can read its bytes, and a copy of the cookies is useless without it.
 * - The key is bound only after IndexedDB took it, so a device never ends up bound to a key
 *   the next page cannot load. A sign-in's new key waits in a record of its own (`device-key-
 *   pending`) and replaces the live one only once the sign-in succeeded: another tab of this
 *   browser, signed in meanwhile, goes on proving with the live key, and a failed sign-in
 *   (a wrong password) leaves it untouched. Without WebCrypto (an insecure context) or IndexedDB the sign-in
 *   goes ahead unbound, quietly; if the server requires binding, its refusal says why in words.
 * - The stored key belongs to one device: it is removed on sign-out, when this device is signed
 *   out (4403) and when its session ends (401, `invalid_proof` included), and a page only uses a key recorded for its own
 *   device, so a stale tab never removes or uses the key of a newer sign-in.
 *
 * @example
 * const res = await signInWithDeviceKey((deviceKey) => http.post('/api/auth/login', authResponse, { username, password, deviceKey }));
 * new RealtimeClient({ proofKey: () => loadDeviceKey(res.device.id) });
 */
import { createStore, del, get, set, type UseStore } from 'idb-keyval';
import type { JWK } from 'jose';
import { publicMembers, type ProofKey } from '../../../shared/proofs.js';
import { ApiError, onUnauthenticated } from '../api/http.js';
import type { RealtimeClient } from '../realtime/client.js';

const RECORD = 'device-key';
/** A sign-in's new key until the server answered (one at a time; the newest attempt's wins). */
const PENDING = 'device-key-pending';

/** What IndexedDB holds: the pair, and the device it was bound to (null: never, for a record of older code). */
interface StoredKey {
  keys: CryptoKeyPair;
  deviceId: string | null;
}

/** The pending record: the pair and a random id of the sign-in attempt that made it. */
interface PendingKey {
  keys: CryptoKeyPair;
  attempt: string;
}

let db: UseStore | null = null;
/** The same database and store as the outbox and drafts (state/user-storage.ts); opened on first use. */
function store(): UseStore {
  return (db ??= createStore('relay', 'saved'));
}

/** Kept for this page only when IndexedDB took the new key but not, a moment later, its device id. */
let held: { deviceId: string; key: ProofKey } | null = null;

function usable(value: unknown): value is StoredKey {
  const v = value as StoredKey | undefined;
  return !!v && typeof v === 'object' && v.keys?.privateKey instanceof CryptoKey && v.keys?.publicKey instanceof CryptoKey;
}

async function proofKeyOf(keys: CryptoKeyPair): Promise<ProofKey> {
  return { privateKey: keys.privateKey, publicJwk: publicMembers((await crypto.subtle.exportKey('jwk', keys.publicKey)) as JWK) };
}

/** A new key pair, already in IndexedDB's pending record; null where this browser cannot make or keep one. */
async function newDeviceKey(): Promise<{ keys: CryptoKeyPair; key: ProofKey; attempt: string } | null> {
  if (!globalThis.isSecureContext || !globalThis.crypto?.subtle || typeof indexedDB === 'undefined') return null;
  try {
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const attempt = crypto.randomUUID();
    await set(PENDING, { keys, attempt } satisfies PendingKey, store());
    return { keys, key: await proofKeyOf(keys), attempt };
  } catch {
    return null;
  }
}

/**
 * Deletes `key` unless `keep` claims the value it holds, read and deleted in ONE IndexedDB
 * transaction: no other tab's write (a sign-in storing its new key) can land in between.
 */
function deleteUnless(key: string, keep: (value: unknown) => boolean): Promise<void> {
  return store()('readwrite', (s) => {
    const read = s.get(key);
    read.onsuccess = () => {
      if (!keep(read.result)) s.delete(key);
    };
    return new Promise<void>((resolve, reject) => {
      s.transaction.oncomplete = () => resolve();
      s.transaction.onerror = s.transaction.onabort = () => reject(s.transaction.error ?? new Error('IndexedDB transaction failed'));
    });
  });
}

/** Drops the pending record if it is still this attempt's (a newer sign-in's is left alone). */
async function dropPending(attempt: string): Promise<void> {
  await deleteUnless(PENDING, (v) => (v as PendingKey | undefined)?.attempt !== attempt).catch(() => {});
}

/**
 * Signs in (login, register, passkey login) with a new device key: `signIn` gets the public JWK
 * to send as `deviceKey` (undefined: this browser signs in unbound) and answers with the new
 * device. Only then does the new key replace the stored one; a failed sign-in leaves the stored
 * key (another tab's live device's) as it was, and no new key behind.
 */
export async function signInWithDeviceKey<T extends { device: { id: string } }>(signIn: (deviceKey: JWK | undefined) => Promise<T>): Promise<T> {
  const made = await newDeviceKey();
  let res: T;
  try {
    res = await signIn(made?.key.publicJwk);
  } catch (err) {
    if (made) await dropPending(made.attempt);
    if (!made && err instanceof ApiError && err.code === 'invalid_request' && /deviceKey/.test(err.message)) {
      throw new ApiError(
        err.status,
        'device_key_required',
        'This server only accepts browsers that can keep a device key, and this one cannot here. Open the app over HTTPS (or on localhost) in an up-to-date browser, with site data allowed, then sign in again.',
      );
    }
    throw err;
  }
  // The new session is this browser's now: its key is the one every tab proves with.
  held = null;
  if (made) {
    const deviceId = res.device.id;
    await set(RECORD, { keys: made.keys, deviceId } satisfies StoredKey, store()).catch(() => {
      held = { deviceId, key: made.key };
    });
    await dropPending(made.attempt);
  } else {
    // Signed in unbound: no older device's key may be offered for this session.
    await del(RECORD, store()).catch(() => {});
  }
  return res;
}

/** The key this device was bound with, for the realtime client's `proofKey`; null: unbound (or none kept). */
export async function loadDeviceKey(deviceId: string): Promise<ProofKey | null> {
  if (held?.deviceId === deviceId) return held.key;
  try {
    const stored: unknown = await get(RECORD, store());
    return usable(stored) && stored.deviceId === deviceId ? await proofKeyOf(stored.keys) : null;
  } catch {
    return null;
  }
}

/**
 * POP8: the key of this browser's current bound device, for the DPoP proof every /api request of
 * its session carries (api/http.ts). Read per request, not cached: a sign-in in another tab
 * replaces both the cookies and this record (once it succeeded), and the next request must
 * follow. Null while no device holds the stored key.
 */
export async function currentProofKey(): Promise<ProofKey | null> {
  if (held) return held.key;
  try {
    const stored: unknown = await get(RECORD, store());
    return usable(stored) && stored.deviceId !== null ? await proofKeyOf(stored.keys) : null;
  } catch {
    return null;
  }
}

/**
 * Removes the stored key: this browser's current one (sign-out, this device revoked), or with
 * `deviceId` only if it is that device's (a session that ended, seen by a possibly stale page).
 */
export async function forgetDeviceKey(deviceId?: string): Promise<void> {
  if (deviceId === undefined || held?.deviceId === deviceId) held = null;
  try {
    if (deviceId === undefined) await del(RECORD, store());
    else await deleteUnless(RECORD, (stored) => usable(stored) && stored.deviceId !== deviceId);
  } catch {
    /* no IndexedDB: nothing was kept */
  }
}

/** Removes `deviceId`'s key once its session is over: signed out (4403) or ended (a 401). Returns the unsubscribe. */
export function forgetDeviceKeyWhenSessionEnds(rt: RealtimeClient, deviceId: string): () => void {
  const offStatus = rt.on('status', (s) => {
    if (s.stopped === 'signed_out' || s.stopped === 'session_ended') void forgetDeviceKey(deviceId);
  });
  const offHttp = onUnauthenticated(() => void forgetDeviceKey(deviceId));
  return () => {
    offStatus();
    offHttp();
  };
}
