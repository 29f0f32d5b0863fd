import { defineConfig } from 'vitest/config';

// Test kind by file ending: `*.test.ts` needs no services; `*.int.test.ts` talks to the real PostgreSQL and Redis
// (a database created for the run by server/test/global-setup.ts); browser specs live in e2e/ (Playwright).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['server/**/*.test.ts', 'shared/**/*.test.ts', 'web/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'node_modules/**'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'int',
          include: ['server/**/*.int.test.ts', 'shared/**/*.int.test.ts'],
          globalSetup: ['server/test/global-setup.ts'],
          environment: 'node',
          pool: 'forks',
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
