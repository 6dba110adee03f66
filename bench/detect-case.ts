/**
 * `pnpm bench:detect <case> [runs] [seeds]`: runs to detect one case of `examples/buggy/`, seed by
 * seed, with the campaign shape its expected.json asks for (as the bench's time-to-detect does).
 * Prints one line per seed: the seed, the run that failed (or `-`), runs done, scheduler steps and
 * milliseconds. 10,000 runs (the default campaign's) and seeds 1 to 20 by default.
 */
import { scanRuns } from '@hmmlab/fuzz';
import { expectedShape, load } from './src/fuzzing.js';

const [name, runsArg, seedsArg] = process.argv.slice(2);
if (name === undefined) {
  process.stderr.write('bench:detect: give a case of examples/buggy/, e.g. h2-lock-in-migrate-to-ram\n');
  process.exit(2);
}
const file = `examples/buggy/${name}/driver.ts`;
const driver = await load(file);
const shape = expectedShape(file);
const runs = Number(runsArg ?? 10_000);
for (let seed = 1; seed <= Number(seedsArg ?? 20); seed++) {
  const t = performance.now();
  const scan = await scanRuns(driver, { runs, seed, shape: shape ?? {} });
  const failed = scan.failing >= 0 ? String(scan.failing + 1) : '-';
  process.stdout.write(
    `seed ${seed}: failed at run ${failed}, ${scan.done} runs, ${scan.steps} steps, ${Math.round(performance.now() - t)} ms\n`,
  );
}
