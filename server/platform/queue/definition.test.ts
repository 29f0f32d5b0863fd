import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from './definition.ts';

const limited = (limit: number, perSeconds: number) =>
  defineJob({
    name: 'def.limited',
    payload: z.object({}),
    rateLimit: { limit, perSeconds },
    handle: () => {},
  });

describe('defineJob rateLimit', () => {
  it('takes a whole limit per a whole number of seconds', () => {
    expect(limited(5, 1).rateLimit).toEqual({ limit: 5, perSeconds: 1 });
    expect(limited(1, 60).rateLimit).toEqual({ limit: 1, perSeconds: 60 });
  });

  // rate-limiter-flexible keeps its window in whole seconds: these would be a faster limit than written, or none.
  it.each([
    [5, 0.5],
    [5, 1.5],
    [5, 0],
    [0, 1],
    [2.5, 1],
    [5, Number.NaN],
  ])('refuses %s per %s s', (limit, perSeconds) => {
    expect(() => limited(limit, perSeconds)).toThrow(/def\.limited: rateLimit needs a whole limit/);
  });
});
