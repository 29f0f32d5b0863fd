import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCallback, defineJob } from './definition.ts';
import { CALLBACK_JOB, JobRegistry } from './registry.ts';

const a = defineJob({ name: 'reg.a', payload: z.object({}), handle: () => {} });
const b = defineJob({ name: 'reg.b', queue: 'low', payload: z.object({ n: z.number() }), handle: () => {} });

describe('JobRegistry built from a list of definitions', () => {
  it('holds the listed jobs and callbacks, and the job that runs callbacks', () => {
    const done = defineCallback('reg.done', () => {});
    const registry = new JobRegistry([a, b, done]);
    expect(registry.names().sort()).toEqual([CALLBACK_JOB, 'reg.a', 'reg.b'].sort());
    expect(registry.get('reg.b')).toBe(b);
    expect(registry.hasCallback('reg.done')).toBe(true);
    expect(registry.hasCallback('reg.a')).toBe(false);
    expect(registry.get(CALLBACK_JOB)?.queue).toBe('high');
  });

  it('refuses two definitions under one name', () => {
    const twin = defineJob({ name: 'reg.a', payload: z.object({}), handle: () => {} });
    expect(() => new JobRegistry([a, twin])).toThrow(/"reg.a" is registered twice/);
    const cb = defineCallback('reg.cb', () => {});
    expect(() => new JobRegistry([cb, cb])).toThrow(/Callback "reg.cb" is registered twice/);
    // The same constant listed twice is one definition (a module's list spread into a larger one).
    expect(new JobRegistry([a, a]).get('reg.a')).toBe(a);
  });
});
