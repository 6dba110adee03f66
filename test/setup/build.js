/**
 * Builds the workspace (`tsc -b`: incremental, nearly free when dist is current; then the packages'
 * bundles of scripts/bundle.js, when the build changed) before the test
 * files run, and again before each rerun of watch mode. Tests that start the `hmmlab` command run
 * it as an installed copy runs, from the built JavaScript (packages/cli/bin/hmmlab.js →
 * dist/main.js, and the model's packages from their bundles in lib/); tests that import the packages get
 * their TypeScript sources (the "@hmmlab/source" condition of vitest.config.ts).
 *
 * Starting from the build instead of the sources saves tsx's compile hooks at every start: about
 * 0.8 s of CPU per `hmmlab` process, and the test suite starts about ninety.
 *
 * JavaScript, not TypeScript: Vitest's main process imports it natively (vitest.config.ts runs the
 * test files without Vite's module runner), and that process has no TypeScript loader.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { bundle } from '../../scripts/bundle.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `tsc -b` and the bundles. When it fails (a type error in code under work), the processes tests
 * start run from the TypeScript sources instead: slower, but never a stale build. Vitest's workers, and the
 * processes they start, inherit this process's environment.
 */
async function build() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-b'], { cwd: root, stdio: 'inherit' });
    await bundle();
    process.env.NODE_OPTIONS = withoutSource(process.env.NODE_OPTIONS);
    // The campaign hosts that tests start in process (runParallelCampaign from the sources) run
    // this build too: packages/fuzz/src/internal/watchdog.ts, `hostsFromBuild`.
    process.env.HMMLAB_HOSTS_FROM_BUILD = '1';
  } catch (e) {
    process.stderr.write(
      `test/setup/build.js: the build failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); the hmmlab processes tests start run from source\n`,
    );
    process.env.NODE_OPTIONS = `${withoutSource(process.env.NODE_OPTIONS)} ${SOURCE}`.trim();
    delete process.env.HMMLAB_HOSTS_FROM_BUILD;
  }
}

const SOURCE = '--conditions=@hmmlab/source';

/** NODE_OPTIONS without the source condition. @param {string | undefined} options */
function withoutSource(options) {
  return (options ?? '')
    .split(' ')
    .filter((o) => o !== SOURCE)
    .join(' ');
}

/**
 * Builds once per run, and again before each rerun of watch mode.
 * @param {import('vitest/node').TestProject} project
 */
export default async function setup(project) {
  await build();
  project.onTestsRerun(() => build());
}
