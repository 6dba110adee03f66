/**
 * `fuzzDriver(driver, options)`: a vitest test that fuzzes a driver with @fast-check/vitest. It
 * keeps `.only` and `.skip`, prints the fast-check seed and the hmmlab replay token on failure, and
 * honours `HMMLAB_FUZZ_RUNS` for the number of runs.
 */

import { test } from '@fast-check/vitest';
import { formatViolation } from '@hmmlab/assertions';
import type { DriverDefinition } from '@hmmlab/harness';
import { type CampaignOptions, runArb, runInputs, runSample } from './internal/campaign.js';
import { recordToken } from './internal/replay.js';

/** Options of {@link fuzzDriver}. */
export type FuzzTestOptions = CampaignOptions & {
  /** Test title. @defaultValue `fuzz <driver name>` */
  readonly name?: string;
  /** Test timeout in ms. @defaultValue 120000 */
  readonly timeout?: number;
};

function runsOf(options: FuzzTestOptions): number {
  const env = process.env.HMMLAB_FUZZ_RUNS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`HMMLAB_FUZZ_RUNS=${env}: expected a positive integer`);
    return n;
  }
  return options.runs ?? 200;
}

function define(mode: 'run' | 'only' | 'skip', driver: DriverDefinition, options: FuzzTestOptions = {}): void {
  const t = mode === 'only' ? test.only : mode === 'skip' ? test.skip : test;
  const params = { numRuns: runsOf(options), ...(options.seed === undefined ? {} : { seed: options.seed }) };
  t.prop([runArb(driver, options)], params)(
    options.name ?? `fuzz ${driver.name}`,
    async (sample) => {
      const r = await runSample(driver, sample, options);
      if (r.verdict === 'pass') return;
      const { violation, token } = await recordToken(driver, sample[0], r.run.decisions, runInputs(options));
      throw new Error(`${formatViolation(violation)}\n\nreplay: hmmlab replay <driver> ${token}`);
    },
    options.timeout ?? 120_000,
  );
}

/** Defines a vitest test that fuzzes `driver`. */
export function fuzzDriver(driver: DriverDefinition, options?: FuzzTestOptions): void {
  define('run', driver, options);
}

/** {@link fuzzDriver} as `test.only`. */
fuzzDriver.only = (driver: DriverDefinition, options?: FuzzTestOptions): void => define('only', driver, options);
/** {@link fuzzDriver} as `test.skip`. */
fuzzDriver.skip = (driver: DriverDefinition, options?: FuzzTestOptions): void => define('skip', driver, options);
