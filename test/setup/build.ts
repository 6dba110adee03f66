/**
 * Builds the workspace (`tsc -b`: incremental, nearly free when dist is current) before the test
 * files run, and again before each rerun of watch mode. Tests that start the `hmmlab` command run
 * it as an installed copy runs, from the built JavaScript (packages/cli/bin/hmmlab.js →
 * dist/main.js, and the packages' dist in its worker threads); tests that import the packages get
 * their TypeScript sources (the "@hmmlab/source" condition of vitest.config.ts).
 *
 * Starting from the build instead of the sources saves tsx's compile hooks at every start: about
 * 0.8 s of CPU per `hmmlab` process, and the test suite starts about ninety.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const root = fileURLToPath(new URL('../..', import.meta.url));

// Each project of vitest.config.ts loads this module anew, in the one main process: a flag on
// globalThis makes it one build per run (and one per watch-mode rerun), not one per project.
const BUILT = Symbol.for('hmmlab.test.built');
const state = globalThis as { [BUILT]?: true };

function build(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b'], { cwd: root, stdio: 'inherit' });
}

export default function setup(project: TestProject): void {
  if (state[BUILT]) return;
  state[BUILT] = true;
  build();
  project.onTestsRerun(() => build());
}
