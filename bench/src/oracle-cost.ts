/**
 * What the oracle costs a run: fixed runs of one driver, under one schedule, with the model alone
 * (no trace listener, no happens-before tracking) and with the whole oracle, side by side in
 * alternating rounds of one process. A small run, as most of a campaign's are; a THP region
 * populated and torn down at the exit; and a device read over that whole region (amdkfd-style's
 * 4-page svm ranges make it 128 GPU faults).
 */
import { checkScenario } from '@hmmlab/assertions';
import { firstRunnable } from '@hmmlab/core';
import { type DriverDefinition, type OpSpec, type RegionSpec, runScenario, type Scenario } from '@hmmlab/harness';
import { alternating, median } from './measure.js';

/** One fixed run's cost with the model alone and with the oracle. */
export interface OracleCase {
  readonly name: string;
  readonly runsPerRound: number;
  /** Median µs per run, model alone. */
  readonly modelUs: number;
  /** Median µs per run, with the oracle. */
  readonly oracleUs: number;
  /** Median over the rounds of `oracle / model`. */
  readonly ratio: number;
}

/** The cases' costs. */
export interface OracleCost {
  readonly rounds: number;
  readonly cases: readonly OracleCase[];
}

const THP: RegionSpec = { pages: 512, prot: 'rw', share: 'private', backing: 'anon', populate: 'write', thp: true };
const SMALL: RegionSpec = { pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' };

function scenario(regions: RegionSpec[], device: OpSpec[], cpu: OpSpec[] = []): Scenario {
  return {
    profile: 'latest',
    wordsPerPage: 2,
    exitAtEnd: true,
    regions,
    tasks: [{ kind: 'device', ops: device }, ...(cpu.length > 0 ? [{ kind: 'cpu' as const, ops: cpu }] : [])],
  };
}

/** The fixed runs: name, scenario and runs per round (before `scale`). */
const CASES: readonly { name: string; scenario: Scenario; runs: number }[] = [
  {
    name: 'small: a 2-page region, two device accesses and a CPU write, then the exit',
    scenario: scenario(
      [SMALL],
      [
        { op: 'dev-read', region: 0, page: 0, word: 0, device: 0 },
        { op: 'dev-write', region: 0, page: 1, word: 1, value: 7, device: 0 },
      ],
      [{ op: 'write', region: 0, page: 0, word: 1, value: 9 }],
    ),
    runs: 400,
  },
  {
    name: 'a THP region populated, then the exit',
    scenario: scenario([THP, SMALL], [{ op: 'dev-read', region: 1, page: 0, word: 0, device: 0 }]),
    runs: 60,
  },
  {
    name: 'a device read of the whole THP region',
    scenario: scenario(
      [THP, SMALL],
      [
        { op: 'dev-read', region: 1, page: 0, word: 0, device: 0 },
        { op: 'dev-read', region: 0, page: 0, pages: 512, word: 0, device: 0 },
      ],
    ),
    runs: 10,
  },
];

/** µs a run of `runs` runs of case `index` of {@link oracleCost} (0 small, 1 THP and exit, 2 THP read), with the oracle or the model alone. */
export function oracleCaseRuns(driver: DriverDefinition, index: number, runs: number, oracle: boolean): Promise<number> {
  const c = CASES[index];
  if (c === undefined) throw new Error(`oracle-cost: no case ${index}`);
  return timeRuns(driver, c.scenario, runs, oracle);
}

async function timeRuns(driver: DriverDefinition, s: Scenario, runs: number, oracle: boolean): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < runs; i++) {
    if (oracle) {
      const r = await checkScenario(driver, s, { decisions: firstRunnable, stopOnFirst: true });
      if (r.verdict !== 'pass') throw new Error(`oracle-cost: the fixed run failed: ${r.violations[0]?.explanation ?? r.run.message}`);
    } else {
      const r = await runScenario(driver, s, { decisions: firstRunnable, trace: 'none' });
      if (r.run.status !== 'done') throw new Error(`oracle-cost: the fixed run ended ${r.run.status}: ${r.run.message}`);
    }
  }
  return ((performance.now() - t) * 1000) / runs;
}

/**
 * Runs each case `rounds` times both ways (after one round of each to warm up), the two in turn
 * first, with `scale` times its runs per round.
 */
export async function oracleCost(driver: DriverDefinition, rounds: number, scale = 1): Promise<OracleCost> {
  const cases: OracleCase[] = [];
  for (const c of CASES) {
    const runs = Math.max(1, Math.round(c.runs * scale));
    await timeRuns(driver, c.scenario, runs, false);
    await timeRuns(driver, c.scenario, runs, true);
    const { first: model, second: withOracle } = await alternating(
      rounds,
      () => timeRuns(driver, c.scenario, runs, false),
      () => timeRuns(driver, c.scenario, runs, true),
    );
    const ratios = model.map((m, i) => (withOracle[i] as number) / m);
    cases.push({
      name: c.name,
      runsPerRound: runs,
      modelUs: Math.round(median(model)),
      oracleUs: Math.round(median(withOracle)),
      ratio: Number(median(ratios).toFixed(2)),
    });
  }
  return { rounds, cases };
}
