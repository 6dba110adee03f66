/**
 * What a campaign's runs cost by layout: one layout in 16 starts with a THP region of 512 pages
 * (`ScenarioShape.thp`), populated page by page and torn down at the exit, and a run over it does
 * far more than one without. Campaigns of only THP layouts, of none, and of the default mix, in
 * alternating rounds in one process; from the first two, the share of the default campaign's time
 * that its THP-layout runs take.
 */
import { scanRuns } from '@hmmlab/fuzz';
import type { DriverDefinition } from '@hmmlab/harness';
import { median } from './measure.js';

/** Microseconds per run of each kind of campaign, and the THP layouts' share of the default one. */
export interface LayoutCost {
  readonly rounds: number;
  /** Runs per round of the campaigns without and with the default mix (THP-only rounds run a tenth). */
  readonly runsPerRound: number;
  readonly usPerRunWithoutThp: number;
  readonly usPerRunThpOnly: number;
  readonly usPerRunDefault: number;
  /** Median over the rounds of `THP-only / without`. */
  readonly thpRunCost: number;
  /**
   * The share of a default campaign's time spent in its THP-layout runs, from the two: `t / (t +
   * 15 f)`, as one layout in 16 is a THP one (`f`: µs per run without, `t`: with).
   */
  readonly thpShareOfDefault: number;
  /** `(15 f + t) / 16`, to hold against {@link LayoutCost.usPerRunDefault}. */
  readonly usPerRunDefaultPredicted: number;
}

async function usPerRun(driver: DriverDefinition, runs: number, seed: number, thp: boolean | undefined): Promise<number> {
  const t = performance.now();
  const scan = await scanRuns(driver, { runs, seed, ...(thp === undefined ? {} : { shape: { thp } }) });
  return ((performance.now() - t) * 1000) / scan.done;
}

/**
 * `rounds` rounds, each a campaign of `runs` runs without THP layouts, one of `runs / 10` runs of
 * only THP layouts, and one of `runs` runs of the default mix, seeded alike within a round and in
 * a rotating order (a load change on a shared machine hits all three alike).
 */
export async function layoutCost(driver: DriverDefinition, runs: number, rounds: number): Promise<LayoutCost> {
  const kinds = [false, true, undefined] as const;
  const each = new Map<boolean | undefined, number[]>(kinds.map((k) => [k, []]));
  const ratios: number[] = [];
  const runsOf = (thp: boolean | undefined): number => (thp === true ? Math.max(1, Math.floor(runs / 10)) : runs);
  // Warm every path up (the JIT) before measuring.
  for (const thp of kinds) await usPerRun(driver, runsOf(thp), 99, thp);
  for (let i = 0; i < rounds; i++) {
    const got = new Map<boolean | undefined, number>();
    for (let j = 0; j < kinds.length; j++) {
      const thp = kinds[(i + j) % kinds.length];
      got.set(thp, await usPerRun(driver, runsOf(thp), 7 + i, thp));
    }
    for (const k of kinds) each.get(k)?.push(got.get(k) as number);
    ratios.push((got.get(true) as number) / (got.get(false) as number));
  }
  const f = median(each.get(false) ?? []);
  const t = median(each.get(true) ?? []);
  return {
    rounds,
    runsPerRound: runs,
    usPerRunWithoutThp: Math.round(f),
    usPerRunThpOnly: Math.round(t),
    usPerRunDefault: Math.round(median(each.get(undefined) ?? [])),
    thpRunCost: Number(median(ratios).toFixed(1)),
    thpShareOfDefault: Number((t / (t + 15 * f)).toFixed(2)),
    usPerRunDefaultPredicted: Math.round((15 * f + t) / 16),
  };
}
