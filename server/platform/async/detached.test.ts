import { describe, expect, it } from 'vitest';
import { currentScope, withLazyDbScope, type Em } from '../db/context.ts';
import { currentRequestStats, runWithRequestStats } from '../metrics/request-stats.ts';
import { runDetached } from './detached.ts';

// A stand-in root EntityManager: a lazy scope forks only when queried, and these checks never query.
const rootEm = {} as Em;

describe('runDetached', () => {
  it('starts a timer that sees none of the request-scoped state of the code that started it', async () => {
    const seen = await withLazyDbScope(rootEm, 'org-1', () =>
      runWithRequestStats({ queries: 0, queryMs: 0 }, () => {
        expect(currentScope()?.organizationId).toBe('org-1');
        expect(currentRequestStats()).toBeDefined();
        return new Promise<unknown[]>((resolve) =>
          runDetached(() => setTimeout(() => resolve([currentScope(), currentRequestStats()]), 1)),
        );
      }),
    );
    expect(seen).toEqual([undefined, undefined]);
  });
});
