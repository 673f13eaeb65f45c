import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'bench/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Integration tests create real segments and processes; running files one at a
          // time keeps the 2-core machine from starving busy-polling peers.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'kubernetes',
          include: ['test/kubernetes/**/*.test.ts'],
          testTimeout: 60_000,
          // Starting a control plane takes ~10 s, and the first build of its binary
          // (scripts/go-build.sh kube, run by npm test before vitest) several minutes.
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'nodes',
          include: ['test/nodes/**/*.test.ts'],
          // Pods start in seconds, but a cold `dev-cluster up` builds containerd and images.
          testTimeout: 300_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
