/**
 * Summarises a V8 .cpuprofile (as written by `npm run bench -- --profile`): self time by function
 * and by source file, so a hot spot can be named with numbers.
 *
 *   npx tsx bench/profile-summary.ts bench/results/relay-saturation.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export function summarize(file: string, top = 25): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time per node from samples × time deltas (more exact than hitCount × mean interval).
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) self.set(samples[i], (self.get(samples[i]) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, v]) => a + v, 0);
  const busy = total - idle;

  const short = (url: string) => {
    if (!url) return '';
    const u = url.replace(/^file:\/\//, '');
    const i = u.indexOf('node_modules/');
    if (i >= 0) return u.slice(i + 'node_modules/'.length);
    return path.relative(process.cwd(), u);
  };
  const fnKey = (n: Node) => `${n.callFrame.functionName || '(anonymous)'}  ${short(n.callFrame.url)}${n.callFrame.url ? ':' + (n.callFrame.lineNumber + 1) : ''}`;
  const fileKey = (n: Node) => {
    const u = short(n.callFrame.url);
    if (!u) return n.callFrame.functionName; // (program), (garbage collector), native
    const m = /^((?:@[^/]+\/)?[^/]+)\//.exec(u);
    return u.startsWith('node:') ? u : m && n.callFrame.url.includes('node_modules') ? `${m[1]} (package)` : u;
  };
  const agg = (key: (n: Node) => string) => {
    const m = new Map<string, number>();
    for (const [id, us] of self) {
      const n = byId.get(id)!;
      if (n.callFrame.functionName === '(idle)') continue;
      m.set(key(n), (m.get(key(n)) ?? 0) + us);
    }
    return [...m].sort((a, b) => b[1] - a[1]);
  };
  const pct = (us: number) => `${((us / Math.max(1, busy)) * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `${path.basename(file)}: ${(total / 1e6).toFixed(2)} s sampled, ${((busy / Math.max(1, total)) * 100).toFixed(0)}% busy (percentages are of busy time)`,
    '',
    'self time by function:',
    ...agg(fnKey)
      .slice(0, top)
      .map(([k, us]) => `  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`),
    '',
    'self time by file / package:',
    ...agg(fileKey)
      .slice(0, Math.min(top, 20))
      .map(([k, us]) => `  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`),
  ];
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [top]');
    process.exit(1);
  }
  console.log(summarize(file, top ? Number(top) : 25));
}
