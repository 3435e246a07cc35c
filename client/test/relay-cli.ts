/**
 * Test helpers: the terminal client (client/terminal/main.ts) as a person runs it, a real child
 * process with its own config directory (RELAY_CONFIG_DIR) and a throwaway HOME, so nothing
 * reads or writes the real ~/.config.
 *
 * @example
 * const r = await runRelay(dir, ['login', '--server', url, '--username', 'carol'], { stdin: 'pw\n' });
 * const tail = spawnRelay(dir, ['tail', 'general']);
 * await tail.waitFor('stderr', /waiting for new messages/);
 * tail.child.kill('SIGINT');
 * expect((await tail.waitExit()).code).toBe(0);
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const MAIN = 'client/terminal/main.ts';

/** Children still running, killed by killRelays() (call it in afterAll). */
const running = new Set<ChildProcess>();

export interface RelayProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the match once `pattern` appears in that stream; rejects after timeoutMs or if the process exits first. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  waitExit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface RelayResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function relayEnv(configDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: mkdtempSync(path.join(os.tmpdir(), 'relay-cli-home-')),
    RELAY_CONFIG_DIR: configDir,
    ...extra,
  };
}

/**
 * Starts `relay <args>`. `stdin`: written and closed (a string), or left open to write later
 * ('pipe'); default: closed at once with nothing on it.
 */
export function spawnRelay(configDir: string, args: string[], opts: { stdin?: string | 'pipe'; env?: Record<string, string> } = {}): RelayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: relayEnv(configDir, opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const listeners = new Set<() => void>();
  const wake = () => {
    for (const fn of [...listeners]) fn();
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    wake();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    wake();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      exit = { code, signal };
      wake();
      resolve(exit);
    });
  });
  if (opts.stdin !== 'pipe') child.stdin!.end(opts.stdin ?? '');

  const text = (stream: 'stdout' | 'stderr') => (stream === 'stdout' ? out : err);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(stream, pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = text(stream).match(pattern);
          if (m) return done(() => resolve(m));
          if (exit) return done(() => reject(new Error(`relay ${args[0]} exited (${exit!.code ?? exit!.signal}) before ${pattern} on ${stream}\nstdout: ${out}\nstderr: ${err}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${pattern} on ${stream}\nstdout: ${out}\nstderr: ${err}`))), timeoutMs);
        const done = (fn: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          fn();
        };
        listeners.add(check);
        check();
      });
    },
    waitExit(timeoutMs = 20_000) {
      return Promise.race([
        exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`relay ${args[0]} did not exit within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`)), timeoutMs).unref()),
      ]);
    },
  };
}

/** Runs `relay <args>` to the end. */
export async function runRelay(configDir: string, args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<RelayResult> {
  const p = spawnRelay(configDir, args, opts);
  const { code } = await p.waitExit(30_000);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

export function killRelays(): void {
  for (const child of running) child.kill('SIGKILL');
}
