/**
 * The cost of the data-race rule: fuzz throughput on one driver with happens-before tracking (the
 * full oracle) and without it (every rule but `data-race`, so no vector clocks and no shadow
 * state), in alternating rounds of the same runs in the same process.
 */
import { RULE_IDS } from '@hmmlab/assertions';
import { scanRuns } from '@hmmlab/fuzz';
import type { DriverDefinition } from '@hmmlab/harness';
import { alternating, median } from './measure.js';

/** Median scenarios per second with and without tracking, and their ratio. */
export interface TrackingCost {
  readonly runsPerRound: number;
  readonly rounds: number;
  readonly withTracking: number;
  readonly withoutTracking: number;
  /** Median over the rounds of `without / with`: how many times slower tracking makes a campaign. */
  readonly slowdown: number;
}

const WITHOUT = RULE_IDS.filter((r) => r !== 'data-race');

async function rate(driver: DriverDefinition, runs: number, tracking: boolean): Promise<number> {
  const t = performance.now();
  const scan = await scanRuns(driver, { runs, seed: 7, ...(tracking ? {} : { rules: WITHOUT }) });
  return scan.done / ((performance.now() - t) / 1000);
}

/**
 * Runs `rounds` rounds of `runs` runs each way, alternating which goes first, and reports the
 * median rates and the median of the per-round ratios (pairs run back to back, so a load change on
 * a shared machine hits both sides of a pair alike).
 */
export async function trackingCost(driver: DriverDefinition, runs: number, rounds: number): Promise<TrackingCost> {
  // Warm both paths up (the JIT) before measuring.
  await rate(driver, runs, true);
  await rate(driver, runs, false);
  const { first: on, second: off } = await alternating(
    rounds,
    () => rate(driver, runs, true),
    () => rate(driver, runs, false),
  );
  const ratios = on.map((a, i) => (off[i] as number) / a);
  return {
    runsPerRound: runs,
    rounds,
    withTracking: Math.round(median(on)),
    withoutTracking: Math.round(median(off)),
    slowdown: Number(median(ratios).toFixed(2)),
  };
}
