import { defineConfig } from 'vitest/config';

// Stryker runs only the in-process unit tests: integration tests drive the CLI in child
// processes, which load dist/ and never see a mutant.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 20_000,
  },
});
