import { describe, expect, it } from 'vitest';
import { isLoopback, trustsEveryAddress } from './addresses.js';

describe('isLoopback', () => {
  it('holds 127.0.0.0/8 and ::1 in every spelling, nothing else', () => {
    for (const ip of ['127.0.0.1', '127.255.0.9', '::ffff:127.0.0.1', '::FFFF:127.1.2.3', '::1', '0:0:0:0:0:0:0:1']) expect(isLoopback(ip), ip).toBe(true);
    for (const ip of [undefined, '', 'localhost', '128.0.0.1', '126.255.255.255', '::2', '::', '::ffff:10.0.0.1', '10.0.0.1', '2001:db8::1'])
      expect(isLoopback(ip), String(ip)).toBe(false);
  });
});

describe('trustsEveryAddress', () => {
  it('sees every address trusted by true, /0 ranges and unions that cover a whole family', () => {
    for (const v of [true, '0.0.0.0/0', '::/0', '0.0.0.0/1,128.0.0.0/1', '0.0.0.0/0.0.0.0', '::ffff:0:0/96', '::/80', '::/1, 8000::/1'])
      expect(trustsEveryAddress(v), String(v)).toBe(true);
    for (const v of [false, 0, 1, 3, 'loopback', 'uniquelocal', '0.0.0.0/1', '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16', '::/81', 'fd00::/8', 'not an address'])
      expect(trustsEveryAddress(v), String(v)).toBe(false);
  });
});
