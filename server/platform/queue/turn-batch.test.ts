import { describe, expect, it } from 'vitest';
import { TurnBatch } from './turn-batch.ts';

describe('TurnBatch', () => {
  it('sends the calls of one turn together and answers each with its own result', async () => {
    const sent: number[][] = [];
    const batch = new TurnBatch<number, string>(async (items) => {
      sent.push(items);
      return items.slice(0, 2).map((n) => `r${n}`);
    });
    const answers = await Promise.all([batch.add(1), batch.add(2), batch.add(3)]);
    expect(sent).toEqual([[1, 2, 3]]);
    expect(answers).toEqual(['r1', 'r2', undefined]);
    await batch.add(4);
    expect(sent).toEqual([[1, 2, 3], [4]]);
  });

  it('fails every call of the turn when the send fails, and the next turn starts clean', async () => {
    let fail = true;
    const batch = new TurnBatch<string>(async () => {
      if (fail) throw new Error('redis down');
    });
    const calls = [batch.add('a'), batch.add('b')];
    await Promise.all(calls.map((c) => expect(c).rejects.toThrow('redis down')));
    fail = false;
    await expect(batch.add('c')).resolves.toBeUndefined();
  });

  it('a call made while a send is in flight goes out in the next send', async () => {
    const sent: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const batch = new TurnBatch<string>(async (items) => {
      sent.push(items);
      if (items.includes('a')) await gate;
    }, process.nextTick);
    const first = batch.add('a');
    await new Promise((r) => setImmediate(r));
    const second = batch.add('b');
    await second;
    expect(sent).toEqual([['a'], ['b']]);
    release();
    await first;
  });
});
