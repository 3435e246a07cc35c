/**
 * The envelope of every payload on a channel's topic: `kind|skip|seq|frame-json`. The frame is
 * the finished client frame, serialized once by the publisher; the three fields before it let
 * each instance route it without a JSON.parse (three indexOf calls). See realtime/hub.ts.
 *
 * kind: m (a stream event, with its seq), t (typing; skip = the typing user), p (presence; skip
 * and seq carry the user and the transition's seq), c (members_changed; no skip, no seq).
 */
export type EnvelopeKind = 'm' | 't' | 'p' | 'c';

export function encodeEnvelope(kind: EnvelopeKind, skip: string, seq: string, frame: string): string {
  return `${kind}|${skip}|${seq}|${frame}`;
}

export function decodeEnvelope(payload: string): { kind: EnvelopeKind; skip: string; seq: string; frame: string } | null {
  const a = payload.indexOf('|');
  const b = payload.indexOf('|', a + 1);
  const c = payload.indexOf('|', b + 1);
  if (a !== 1 || b < 0 || c < 0) return null;
  return { kind: payload[0] as EnvelopeKind, skip: payload.slice(a + 1, b), seq: payload.slice(b + 1, c), frame: payload.slice(c + 1) };
}
