import { defineConfig } from 'vitest/config';

// The black-box suite: only HTTP to a running stack (ARTIFACTAPI_URL), never the source tree.
export default defineConfig({
  test: {
    root: __dirname,
    include: ['**/*.e2e.ts'],
    testTimeout: 60_000,
    fileParallelism: false,
  },
});
