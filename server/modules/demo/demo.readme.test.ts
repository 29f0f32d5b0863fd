import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEMO_LOGINS } from './demo.seed.ts';

describe('README demo logins', () => {
  it('lists exactly the logins the seed creates', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const table = [...readme.matchAll(/^\| ([a-z]+@[a-z.]+\.test) +\|/gm)].map((m) => m[1]);
    expect(table).toEqual(DEMO_LOGINS.map((l) => l.email));
  });
});
