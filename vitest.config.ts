import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/setup/sequencer.js';

// Workspace packages resolve to their TypeScript sources through the "@hmmlab/source" export
// condition (for Vite's resolver here, and for Node's in the workers: `execArgv` below): what a
// test imports is never a stale build. The `hmmlab` processes tests start run
// the build (test/setup/build.js makes it first).
const conditions = ['@hmmlab/source', 'import', 'module', 'node', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@hmmlab/source'] } },
  test: {
    // Tests bound their work by runs and steps, never by the clock: these limits only stop a hung
    // run, and are generous enough for a loaded 2-core machine.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    teardownTimeout: 120_000,
    // One worker per CPU (the default leaves one CPU to the main process, which here only waits:
    // on a 2-core machine that ran the files one at a time).
    maxWorkers: availableParallelism(),
    // A worker imports the packages once for all its files instead of once per file (most of a
    // short file's time). Every run is its own Kernel, so nothing of a run outlives it; module
    // state the files share is limited to counters and caches that no result depends on.
    isolate: false,
    // The workers import the code natively, TypeScript through tsx (with the source condition),
    // instead of through Vite's module runner, whose rewritten imports made the model's hot paths
    // slower: a campaign of amdkfd-style ran 25% faster per run (430 to 460 µs against 580 to
    // 610, after 4,500 runs to warm up). Worker threads that tests start inherit these flags;
    // `hmmlab` processes do not (they get NODE_OPTIONS, see test/setup/build.js).
    // No module mocking or in-source tests here: no module loader for them either (Node 20 has no
    // `module.registerHooks`, and Vitest warns at each start when asked for one).
    experimental: { viteModuleRunner: false, nodeLoader: false },
    // The young generation of the threads that run campaigns in `hmmlab fuzz`
    // (YOUNG_GENERATION_MB, packages/fuzz/src/internal/watched-thread.ts): 32 MB semi-spaces.
    execArgv: ['--conditions=@hmmlab/source', '--import', 'tsx', '--max-semi-space-size=32'],
    // `hmmlab fuzz` keeps a corpus under the working directory unless told otherwise: tests that
    // run the CLI must neither write into the repo nor depend on a corpus an earlier run left.
    env: { HMMLAB_CORPUS: 'off' },
    // The CLI the tests start (packages/cli/bin/hmmlab.js) runs the build, as an installed one
    // does: the workspace is built first (incremental, a no-op when dist is current).
    globalSetup: ['test/setup/build.js'],
    // Longest files first, by test/setup/durations.json, whether or not this machine ran them before.
    sequence: { sequencer: LongestFirst },
    // One project for the whole suite: Vitest gives each project workers of its own, so with a
    // project per package a worker ended at each change of project, and a new one imported the
    // packages and warmed up the model's code again (docs/performance.md, "Where the test suite's
    // CPU goes"). Pick files by path: `npx vitest run packages/core`.
    include: ['packages/*/src/**/*.test.ts', 'examples/**/*.test.ts', 'test/**/*.test.ts'],
  },
});
