/**
 * The cost of the data-race rule: fuzz throughput on one driver with happens-before tracking (the
 * full oracle) and without it (every rule but `data-race`, so no vector clocks and no shadow
 * state), in alternating rounds of the same runs in the same process.
 */
import { RULE_IDS } from '@hmmlab/assertions';
import { scanRuns } from '@hmmlab/fuzz';
import type { DriverDefinition } from '@hmmlab/harness';
import { median } from './measure.js';

/** Median scenarios per second with and without tracking, and their ratio. */
export interface TrackingCost {
  readonly runsPerRound: number;
  readonly rounds: number;
  readonly withTracking: number;
  readonly withoutTracking: number;
  /** `withoutTracking / withTracking`: how many times slower tracking makes a campaign. */
  readonly slowdown: number;
}

const WITHOUT = RULE_IDS.filter((r) => r !== 'data-race');

async function rate(driver: DriverDefinition, runs: number, tracking: boolean): Promise<number> {
  const t = performance.now();
  const scan = await scanRuns(driver, { runs, seed: 7, ...(tracking ? {} : { rules: WITHOUT }) });
  return scan.done / ((performance.now() - t) / 1000);
}

/** Runs `rounds` rounds of `runs` runs each way, alternating, and reports the medians. */
export async function trackingCost(driver: DriverDefinition, runs: number, rounds: number): Promise<TrackingCost> {
  const on: number[] = [];
  const off: number[] = [];
  await rate(driver, Math.min(runs, 50), true); // warm up both paths
  await rate(driver, Math.min(runs, 50), false);
  for (let i = 0; i < rounds; i++) {
    on.push(await rate(driver, runs, true));
    off.push(await rate(driver, runs, false));
  }
  const w = median(on);
  const wo = median(off);
  return {
    runsPerRound: runs,
    rounds,
    withTracking: Math.round(w),
    withoutTracking: Math.round(wo),
    slowdown: Number((wo / w).toFixed(2)),
  };
}
