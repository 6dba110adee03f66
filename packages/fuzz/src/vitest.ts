/**
 * `fuzzDriver(driver, options)`: a vitest test that fuzzes a driver: a fast-check property over
 * runs, checked with `fc.assert` (vitest is the only thing it needs besides hmmlab). It keeps
 * `.only` and `.skip`, runs the same samples on every run (seed 1 unless `HMMLAB_SEED` or `seed`
 * says otherwise), prints the seed and the `hmmlab replay` command of the counterexample on
 * failure, and honours `HMMLAB_FUZZ_RUNS` for the number of runs.
 *
 * @module @hmmlab/fuzz/vitest
 */

import { type DriverDefinition, driverModuleOf } from '@hmmlab/harness';
import fc from 'fast-check';
import { test } from 'vitest';
import { CAMPAIGN_FIELDS, type CampaignOptions, checkCampaignOptions, runArb } from './internal/campaign.js';
import { checkSample, defaultExporting, fuzzRuns, fuzzSeed } from './internal/fuzz-test.js';

/** Options of {@link fuzzDriver}. */
export type FuzzTestOptions = CampaignOptions & {
  /** Test title. @defaultValue `fuzz <driver name>` */
  readonly name?: string;
  /** Test timeout in ms. @defaultValue 120000 */
  readonly timeout?: number;
  /**
   * The driver module (path or file URL), for the replay command printed on failure.
   * @defaultValue the module that called `defineDriver`, if it has a default export
   */
  readonly module?: string | URL;
};

/** Every field of {@link FuzzTestOptions} (the compiler checks it), for the check of option names. */
const FUZZ_TEST_FIELDS = { ...CAMPAIGN_FIELDS, name: true, timeout: true, module: true } as const satisfies Record<
  keyof FuzzTestOptions,
  true
>;

function define(mode: 'run' | 'only' | 'skip', driver: DriverDefinition, options: FuzzTestOptions = {}): void {
  const t = mode === 'only' ? test.only : mode === 'skip' ? test.skip : test;
  const seed = fuzzSeed(options.seed, process.env.HMMLAB_SEED);
  const runs = fuzzRuns(options.runs, process.env.HMMLAB_FUZZ_RUNS);
  // As a campaign's: runs: 0 made a test of no run that passed, and seeds equal modulo 2^32 the
  // same samples. Refused when the file defines the test, naming the option.
  checkCampaignOptions({ ...options, seed, runs }, FUZZ_TEST_FIELDS);
  const module = options.module ?? defaultExporting(driverModuleOf(driver));
  const check = checkSample(driver, { ...options, seed }, { module, cwd: process.cwd() });
  const property = fc.asyncProperty(runArb(driver, options), check);
  t(options.name ?? `fuzz ${driver.name}`, () => fc.assert(property, { numRuns: runs, seed }), options.timeout ?? 120_000);
}

/** Defines a vitest test that fuzzes `driver`. */
export function fuzzDriver(driver: DriverDefinition, options?: FuzzTestOptions): void {
  define('run', driver, options);
}

/** {@link fuzzDriver} as `test.only`. */
fuzzDriver.only = (driver: DriverDefinition, options?: FuzzTestOptions): void => define('only', driver, options);
/** {@link fuzzDriver} as `test.skip`. */
fuzzDriver.skip = (driver: DriverDefinition, options?: FuzzTestOptions): void => define('skip', driver, options);
