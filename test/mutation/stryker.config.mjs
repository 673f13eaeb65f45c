// `npm run test:mutation` (scripts/mutation.sh) runs this from the repository root.
//
// Mutated: the modules whose logic in-process unit tests reach (issue 13's list): the ring,
// slot and lock logic of src/channel/, the webhook's patch and admission, the extender's
// placement, selectors, quantities and sizes, and the client's env contract. Not mutated:
// code exercised only through child processes (the CLI, the agent, channel.ts's wiring),
// which load dist/ and would never see a mutant, and the Kubernetes clients, which need
// the real control plane (test/kubernetes/).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'test/mutation/vitest.config.ts', pool: 'forks' },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'src/channel/layout.ts',
    'src/channel/ring-writer.ts',
    'src/channel/ring-view.ts',
    'src/channel/subscriber-reader.ts',
    'src/channel/stream-reader.ts',
    'src/channel/participants.ts',
    'src/channel/lock.ts',
    'src/channel/liveness.ts',
    'src/channel/names.ts',
    'src/webhook/patch.ts',
    'src/webhook/admission.ts',
    'src/extender/placement.ts',
    'src/k8s/selector.ts',
    'src/k8s/channel-spec.ts',
    'src/size.ts',
    'src/client/env.ts',
  ],
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // The sandbox needs src, test helpers and native/build; not the Go caches or bench output.
  ignorePatterns: ['.cache', 'dist', 'bench-results', '.shimmy', 'reports', 'test/kube', 'test/node', 'test/helm'],
  tempDirName: 'reports/.stryker-tmp',
  concurrency: 2,
  // Mutants that make a ring loop spin end as Timeout (counted as detected) after this.
  timeoutMS: 5_000,
};
