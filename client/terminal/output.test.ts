/** What reaches the terminal: no control or bidi character of the server's acts on it. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError, RelayHttp } from './http.js';
import { jsonLine, safeText } from './output.js';

const HOSTILE = 'a\u001b[2Jb\u009b31mc\u0085d\u202eevil\u2066e\u2069f\u202ag\u007f';

describe('safeText (people)', () => {
  it('replaces C0, DEL, C1 and bidi controls with U+FFFD, keeps newline, tab and ordinary text', () => {
    expect(safeText(HOSTILE)).toBe('a\uFFFD[2Jb\uFFFD31mc\uFFFDd\uFFFDevil\uFFFDe\uFFFDf\uFFFDg\uFFFD');
    expect(safeText('line 1\n\tline 2 — ünïcode ✓ עברית')).toBe('line 1\n\tline 2 — ünïcode ✓ עברית');
  });
});

describe('jsonLine (--json)', () => {
  it('escapes C0, C1 and bidi characters as \\uXXXX: the same value, nothing a terminal acts on', () => {
    const line = jsonLine({ body: HOSTILE, name: 'x' });
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(line).toContain('\\u009b');
    expect(line).toContain('\\u202e');
    expect(JSON.parse(line)).toEqual({ body: HOSTILE, name: 'x' });
  });
});

describe('an error answer with hostile text', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'bad\u009b', message: `refused ${HOSTILE}` } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reaches the person through safeText', async () => {
    const err = await new RelayHttp(url).request('GET', '/api/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).message).toBe(`refused ${safeText(HOSTILE)} (400 bad\uFFFD)`);
  });
});
