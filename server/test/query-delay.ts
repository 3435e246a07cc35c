import type pg from 'pg';

/**
 * Holds back the pool's queries named `name` until `until` (milliseconds, or a promise) has
 * passed; they still run on the real database afterwards, so the delay only widens a window
 * that exists anyway under load. `started` resolves when the first such query is issued.
 */
export function delayQuery(pool: pg.Pool, name: string, until: number | Promise<unknown>): { started: Promise<void>; restore(): void } {
  const real = pool.query.bind(pool) as (...a: unknown[]) => Promise<unknown>;
  let onStart!: () => void;
  const started = new Promise<void>((r) => (onStart = r));
  pool.query = ((config: unknown, ...rest: unknown[]) => {
    if ((config as { name?: string } | null)?.name !== name) return real(config, ...rest);
    onStart();
    const wait = typeof until === 'number' ? new Promise((r) => setTimeout(r, until)) : until;
    return wait.then(() => real(config, ...rest));
  }) as typeof pool.query;
  return { started, restore: () => void (pool.query = real as typeof pool.query) };
}
