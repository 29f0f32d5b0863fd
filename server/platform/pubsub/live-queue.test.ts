import { describe, expect, it } from 'vitest';
import { LiveQueue } from './live-queue.ts';

const never = new AbortController().signal;

async function drain<T>(q: LiveQueue<T>): Promise<T[]> {
  q.end();
  const out: T[] = [];
  for (let v = await q.next(never); v !== undefined; v = await q.next(never)) out.push(v);
  return out;
}

describe('LiveQueue', () => {
  it('hands out messages in push order and wakes a waiting consumer', async () => {
    const q = new LiveQueue<number>(10);
    const waiting = q.next(never);
    q.push(1);
    q.push(2);
    expect(await waiting).toBe(1);
    expect(await drain(q)).toEqual([2]);
  });

  it('refuses a push beyond its bound instead of growing', () => {
    const q = new LiveQueue<number>(3);
    expect([q.push(1), q.push(2), q.push(3), q.push(4)]).toEqual([true, true, true, false]);
    expect(q.size).toBe(3);
  });

  it('coalesces by key: the newest value replaces the waiting one and moves to the back', async () => {
    const q = new LiveQueue<{ k: string; v: number }>(10, (m) => m.k);
    q.push({ k: 'a', v: 1 });
    q.push({ k: 'b', v: 1 });
    q.push({ k: 'a', v: 2 });
    q.push({ k: 'a', v: 3 });
    expect(q.size).toBe(2);
    expect(await drain(q)).toEqual([
      { k: 'b', v: 1 },
      { k: 'a', v: 3 },
    ]);
  });

  it('does not count coalesced messages against the bound', () => {
    const q = new LiveQueue<{ k: string }>(2, (m) => m.k);
    for (let i = 0; i < 100; i++) expect(q.push({ k: 'same' })).toBe(true);
    expect(q.size).toBe(1);
  });

  it('returns undefined once the signal aborts while waiting', async () => {
    const q = new LiveQueue<number>(10);
    const ac = new AbortController();
    const waiting = q.next(ac.signal);
    ac.abort();
    expect(await waiting).toBeUndefined();
  });

  it('keeps order across compaction of a long-running queue', async () => {
    const q = new LiveQueue<number>(5000);
    const seen: number[] = [];
    for (let i = 0; i < 3000; i++) {
      q.push(i);
      if (i % 2) seen.push((await q.next(never))!);
    }
    seen.push(...(await drain(q)));
    expect(seen).toEqual([...Array(3000).keys()]);
  });
});
