import { describe, expect, it } from 'vitest';
import { RequestError, Requests } from './requests.js';

/** Timers run by hand. */
function manualTimers() {
  const due: Array<{ fn: () => void; at: number } | null> = [];
  return {
    setTimeout: (fn: () => void, ms: number) => due.push({ fn, at: ms }) - 1,
    clearTimeout: (h: unknown) => {
      due[h as number] = null;
    },
    fireAll: () => due.splice(0).forEach((t) => t?.fn()),
  };
}

describe('edit and delete requests', () => {
  it('each ref settles once: the answer resolves it, a later error for it is ignored', async () => {
    const t = manualTimers();
    const reqs = new Requests(t, 1_000);
    const { ref, done } = reqs.open('edit');
    expect(ref).toMatch(/^edit:/);
    expect(reqs.settle(ref)).toBe(true);
    await expect(done).resolves.toBeUndefined();
    expect(reqs.fail(ref, new RequestError('forbidden', 'no'))).toBe(false);
    t.fireAll(); // its timeout was cleared
  });

  it('an error frame with the ref rejects with its code; a timeout and a lost connection reject the rest', async () => {
    const t = manualTimers();
    const reqs = new Requests(t, 1_000);
    const a = reqs.open('delete');
    const b = reqs.open('edit');
    const c = reqs.open('edit');
    reqs.fail(a.ref, new RequestError('forbidden', 'Not yours'));
    await expect(a.done).rejects.toMatchObject({ code: 'forbidden' });
    reqs.failAll(new RequestError('offline', 'The connection was lost'));
    await expect(b.done).rejects.toMatchObject({ code: 'offline' });
    await expect(c.done).rejects.toMatchObject({ code: 'offline' });
    const d = reqs.open('edit');
    t.fireAll();
    await expect(d.done).rejects.toMatchObject({ code: 'timeout' });
  });
});
