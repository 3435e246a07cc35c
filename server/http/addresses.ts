/**
 * Client addresses: which ones are loopback, and whether a TRUST_PROXY setting trusts every
 * address (so any client could name itself in X-Forwarded-For). Both work in one space: IPv6,
 * with an IPv4 address as its mapped form ::ffff:a.b.c.d, which is how Express and proxy-addr
 * compare an IPv4 client against an IPv6 range.
 */
import { isIPv4, isIPv6 } from 'node:net';

const ALL_V6 = (1n << 128n) - 1n;
const MAPPED_V4_FIRST = 0xffffn << 32n;
const MAPPED_V4_LAST = MAPPED_V4_FIRST + 0xffffffffn;
const LOOPBACK_V4_FIRST = MAPPED_V4_FIRST | (127n << 24n);
const LOOPBACK_V4_LAST = LOOPBACK_V4_FIRST + 0xffffffn;

function v4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
}

/** An IPv6 address (any spelling, an IPv4 tail allowed) as a 128-bit number. */
function v6ToBigInt(ip: string): bigint {
  let text = ip.toLowerCase();
  const tail = text.lastIndexOf(':');
  if (text.includes('.')) {
    const v4 = Number(v4ToBigInt(text.slice(tail + 1)));
    text = `${text.slice(0, tail + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const groups = text.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** An address in the IPv6 space (IPv4 mapped), or undefined when it is not an address. */
function toV6(ip: string): bigint | undefined {
  if (isIPv4(ip)) return MAPPED_V4_FIRST | v4ToBigInt(ip);
  if (isIPv6(ip)) return v6ToBigInt(ip);
  return undefined;
}

/**
 * True for 127.0.0.0/8 and ::1, in any spelling (::ffff:127.0.0.1 on a dual-stack socket).
 * @example isLoopback(req.ip) // req.ip is the client after TRUST_PROXY
 */
export function isLoopback(ip: string | undefined): boolean {
  const n = ip === undefined ? undefined : toV6(ip);
  if (n === undefined) return false;
  return n === 1n || (n >= LOOPBACK_V4_FIRST && n <= LOOPBACK_V4_LAST);
}

/** `a.b.c.d/n`, `a.b.c.d/255.0.0.0` or `v6/n` as an inclusive range; undefined when malformed. */
function rangeOf(entry: string): [bigint, bigint] | undefined {
  const slash = entry.lastIndexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const start = toV6(address);
  if (start === undefined) return undefined;
  const mask = slash < 0 ? undefined : entry.slice(slash + 1);
  let prefix = isIPv4(address) ? 32 : 128;
  if (mask !== undefined) {
    if (/^\d+$/.test(mask)) prefix = Number(mask);
    else if (isIPv4(address) && isIPv4(mask)) prefix = v4ToBigInt(mask).toString(2).replace(/0/g, '').length;
    else return undefined;
    if (prefix > (isIPv4(address) ? 32 : 128)) return undefined;
  }
  const bits = BigInt((isIPv4(address) ? 32 : 128) - prefix);
  const first = (start >> bits) << bits;
  return [first, first + (1n << bits) - 1n];
}

/** True when the union of `ranges` covers [first, last]. */
function covers(ranges: Array<[bigint, bigint]>, first: bigint, last: bigint): boolean {
  let next = first;
  for (const [a, b] of [...ranges].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))) {
    if (a > next) break;
    if (b >= next) next = b + 1n;
    if (next > last) return true;
  }
  return false;
}

/**
 * Whether a TRUST_PROXY value (as parsed: boolean, hop count or comma-separated list) trusts
 * every IPv4 or every IPv6 client: `true`, `0.0.0.0/0`, `::/0`, `0.0.0.0/1,128.0.0.0/1`,
 * `::ffff:0:0/96` or any IPv6 range holding all mapped IPv4 addresses (`::/64`). Preset names
 * (loopback, linklocal, uniquelocal) are narrow; a hop count trusts that many hops, not everyone.
 */
export function trustsEveryAddress(trustProxy: boolean | number | string): boolean {
  if (trustProxy === true) return true;
  if (typeof trustProxy !== 'string') return false;
  const ranges = trustProxy
    .split(',')
    .map((s) => rangeOf(s.trim()))
    .filter((r): r is [bigint, bigint] => r !== undefined);
  return covers(ranges, MAPPED_V4_FIRST, MAPPED_V4_LAST) || covers(ranges, 0n, ALL_V6);
}
