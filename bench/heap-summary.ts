/**
 * Summarises a V8 .heapsnapshot (written by `npm run bench -- --profile` with the idle sockets
 * open): retained-by-nobody-in-particular self size grouped by constructor / node name, to see
 * what a server keeps per idle socket. Divide by the socket count for bytes per socket.
 *
 *   npx tsx bench/heap-summary.ts bench/results/relay-idle.heapsnapshot [sockets=5000] [top=30]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export function summarizeHeap(file: string, sockets: number, top = 30): string {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const by = new Map<string, { count: number; size: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]];
    const size = snap.nodes[i + iSize];
    total += size;
    let name = snap.strings[snap.nodes[i + iName]];
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '(string)';
    else if (type === 'code') name = '(code)';
    else if (type === 'array') name = `(array) ${name}`;
    else if (type === 'hidden' || type === 'object shape') name = `(${type})`;
    else if (type === 'closure') name = `(closure) ${name}`;
    else if (type === 'native') name = `(native) ${name}`;
    const e = by.get(name) ?? { count: 0, size: 0 };
    e.count++;
    e.size += size;
    by.set(name, e);
  }
  const rows = [...by].sort((a, b) => b[1].size - a[1].size).slice(0, top);
  return [
    `${path.basename(file)}: ${(total / 1048576).toFixed(1)} MiB in ${(snap.nodes.length / width).toLocaleString()} objects; per socket = / ${sockets}`,
    '   count/sock  bytes/sock   total KiB  name',
    ...rows.map(
      ([name, e]) =>
        `  ${(e.count / sockets).toFixed(2).padStart(10)}  ${(e.size / sockets).toFixed(0).padStart(10)}  ${(e.size / 1024).toFixed(0).padStart(10)}  ${name.slice(0, 90)}`,
    ),
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const [file, sockets, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: npx tsx bench/heap-summary.ts FILE.heapsnapshot [sockets] [top]');
    process.exit(1);
  }
  console.log(summarizeHeap(file, sockets ? Number(sockets) : 5000, top ? Number(top) : 30));
}
