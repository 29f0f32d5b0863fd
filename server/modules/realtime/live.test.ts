import { describe, expect, it } from 'vitest';
import { serialized } from './live.ts';

/** A check whose runs stay open until the test lets them finish, recording what state each run read. */
function gatedCheck(read: () => string) {
  const seen: string[] = [];
  const gates: Array<() => void> = [];
  const check = serialized(async () => {
    seen.push(read());
    await new Promise<void>((resolve) => gates.push(resolve));
  });
  const finishNext = async () => {
    await Promise.resolve();
    gates.shift()?.();
    await new Promise((r) => setImmediate(r));
  };
  return { check, seen, gates, finishNext };
}

describe('serialized recheck', () => {
  it('runs again after the run in flight when called meanwhile, so a change made during that run is read', async () => {
    let state = 'member';
    const { check, seen, finishNext } = gatedCheck(() => state);
    const first = check();
    state = 'removed';
    const second = check();
    await finishNext();
    await first;
    await finishNext();
    await second;
    expect(seen).toEqual(['member', 'removed']);
  });

  it('folds every call made during one run into a single further run', async () => {
    const { check, seen, gates, finishNext } = gatedCheck(() => 'x');
    const calls = [check(), check(), check(), check()];
    await finishNext();
    expect(gates).toHaveLength(1);
    await finishNext();
    await Promise.all(calls);
    expect(seen).toHaveLength(2);
  });

  it('starts afresh once idle, and a failing run neither wedges nor skips the runs after it', async () => {
    let fail = true;
    let runs = 0;
    const check = serialized(async () => {
      runs++;
      const failing = fail;
      await Promise.resolve();
      if (failing) throw new Error('database unavailable');
    });
    const failing = check();
    const queued = check();
    fail = false;
    await expect(failing).rejects.toThrow('database unavailable');
    await expect(queued).resolves.toBeUndefined();
    await expect(check()).resolves.toBeUndefined();
    expect(runs).toBe(3);
  });
});
