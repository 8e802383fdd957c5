import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites share PostgreSQL/Redis but each uses its own schema/key prefix.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
