/**
 * A fuzz campaign over one driver: run i draws (scenario, schedule) from its own seed, so a run
 * does not depend on the runs before it or on how runs are split over workers; the first failing
 * run (lowest index) is shrunk, scenario and schedule together, and replayed once more with the
 * whole trace kept for the report.
 */
import {
  type CheckedRun,
  checkScenario,
  type FlushCounts,
  type FlushMetrics,
  type OracleOptions,
  type OracleReport,
  type Violation,
} from '@hmmlab/assertions';
import { arrayDecisions, Kernel, type ProfileName } from '@hmmlab/core';
import type { DriverDefinition, Scenario } from '@hmmlab/harness';
import fc from 'fast-check';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { type ScenarioShape, scenarioArb } from './arbitraries.js';
import { emptyCounts } from './counts.js';
import {
  baseCell,
  type CoverageSummary,
  type CoverageUniverse,
  expectedCells,
  mergeCoverage,
  mergeFlushes,
  summarizeCoverage,
  WINDOWS,
} from './coverage.js';
import { exploreSchedules } from './explore.js';
import { type RunInputs, recordToken } from './replay.js';
import { type Schedule, type ScheduleShape, type StrategyName, scheduleArb, scheduleDecisions } from './schedule.js';

/** Options of a campaign. */
export interface CampaignOptions {
  /** Runs to try. @defaultValue 1000 */
  readonly runs?: number;
  /** Stop after this many milliseconds even if runs remain. */
  readonly timeMs?: number;
  /** Campaign seed. @defaultValue 1 */
  readonly seed?: number;
  /** Schedule strategy. @defaultValue 'pct' */
  readonly strategy?: StrategyName;
  /** Exhaustive strategy: schedules explored per scenario (preemption bound 2). @defaultValue 64 */
  readonly schedulesPerScenario?: number;
  /** Profiles to fuzz (default: the driver's own). */
  readonly profiles?: readonly ProfileName[];
  readonly shape?: ScenarioShape;
  readonly schedule?: ScheduleShape;
  /** Oracle rules to check. */
  readonly rules?: OracleOptions['rules'];
  /** Shrink a counterexample. @defaultValue true */
  readonly shrink?: boolean;
  /** Called as runs complete. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Only run indices this accepts (how workers split a campaign). */
  readonly runFilter?: (index: number) => boolean;
  /** Fail the campaign if one of these race windows was never reached. */
  readonly requireWindows?: readonly string[];
  /** Step limit of one run. @defaultValue 20000 */
  readonly maxSteps?: number;
}

/** A counterexample. */
export interface Counterexample {
  readonly runIndex: number;
  readonly scenario: Scenario;
  readonly schedule: Schedule;
  /** The scheduler's recorded choices: replaying them replays the run. */
  readonly decisions: readonly number[];
  readonly violation: Violation;
  readonly report: OracleReport;
  readonly token: string;
  /** Ops before and after shrinking. */
  readonly shrunk: { readonly opsBefore: number; readonly opsAfter: number; readonly attempts: number };
}

/** The result of a campaign. */
export interface CampaignResult {
  readonly driver: string;
  readonly verdict: 'pass' | 'fail';
  readonly runs: number;
  readonly elapsedMs: number;
  readonly seed: number;
  readonly strategy: string;
  readonly failure: Counterexample | null;
  readonly coverage: { cells: Record<string, number>; windows: Record<string, number> };
  readonly flushes: FlushMetrics;
  /** Expected coverage cells (event|owner|page kind|blockable|device state) never reached. */
  readonly missingCells: readonly string[];
  /** Expected cells reached out of how many, unreached ones grouped, and notes when coverage is thin. */
  readonly coverageSummary: CoverageSummary;
  /** Race windows never reached. */
  readonly missingWindows: readonly string[];
  /** Steps taken by all runs (for throughput). */
  readonly steps: number;
}

/** The seed of run `index` of a campaign seeded `seed` (a 32-bit mix, so nearby runs differ). */
export function runSeed(seed: number, index: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h | 0;
}

type Sample = [Scenario, Schedule];

const DEFAULT_MAX_STEPS = 20_000;

function opsOf(s: Scenario): number {
  return s.tasks.reduce((n, t) => n + t.ops.length, 0);
}

/** The arbitrary of one run of a campaign. */
export function runArb(driver: DriverDefinition, options: CampaignOptions): fc.Arbitrary<Sample> {
  const profiles = options.profiles ?? driver.profiles ?? ['latest'];
  const strategy = options.strategy ?? 'pct';
  // Exhaustive search enumerates schedules itself: the sample carries an empty walk.
  const schedule =
    strategy === 'exhaustive' ? fc.constant<Schedule>({ kind: 'random', choices: [] }) : scheduleArb(strategy, options.schedule);
  return fc.tuple(scenarioArb({ ...options.shape, profiles }), schedule);
}

/** The step limit and oracle options of a campaign's runs, as a token records them. */
export function runInputs(options: CampaignOptions): RunInputs {
  return {
    maxSteps: options.maxSteps ?? DEFAULT_MAX_STEPS,
    oracle: { stopOnFirst: true, ...(options.rules !== undefined ? { rules: options.rules } : {}) },
  };
}

/** Runs one sample under the oracle. */
export async function runSample(
  driver: DriverDefinition,
  sample: Sample,
  options: CampaignOptions,
  keep: 'none' | 'all' = 'none',
): Promise<OracleReport> {
  const [scenario, schedule] = sample;
  const rules = options.rules ? { rules: options.rules } : {};
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  if (options.strategy === 'exhaustive') {
    const x = await exploreSchedules(driver, scenario, { maxSchedules: options.schedulesPerScenario ?? 64, maxSteps, ...rules });
    if (keep === 'none') return x.last;
    // Replay the schedule the search ended on with the whole trace.
    return checkScenario(driver, scenario, {
      decisions: arrayDecisions(x.last.run.decisions),
      stopOnFirst: true,
      trace: 'all',
      maxSteps,
      ...rules,
    });
  }
  return checkScenario(driver, scenario, { decisions: scheduleDecisions(schedule), stopOnFirst: true, trace: keep, maxSteps, ...rules });
}

/** Shrinks a failing sample while it keeps failing with the same rule. */
async function shrink(
  driver: DriverDefinition,
  arb: fc.Arbitrary<Sample>,
  start: fc.Value<Sample>,
  rule: string,
  options: CampaignOptions,
): Promise<{ value: fc.Value<Sample>; attempts: number }> {
  let cur = start;
  let attempts = 0;
  const budget = 3000;
  for (let improved = true; improved && attempts < budget; ) {
    improved = false;
    for (const cand of arb.shrink(cur.value_, cur.context)) {
      if (++attempts > budget) break;
      const r = await runSample(driver, cand.value_, options);
      if (r.violations.some((v) => v.rule === rule)) {
        cur = cand;
        improved = true;
        break;
      }
    }
  }
  return { value: cur, attempts };
}

/**
 * A last pass after shrinking: drops ops one at a time (and tasks left empty) from the scenario
 * itself, keeping the schedule, while the run still fails with the same rule. Scenario
 * arbitraries built with `chain` shrink their inner values poorly, so ops that do not matter can
 * survive the shrink tree.
 */
async function dropOps(
  driver: DriverDefinition,
  value: fc.Value<Sample>,
  rule: string,
  options: CampaignOptions,
): Promise<{ value: fc.Value<Sample>; attempts: number }> {
  let [scenario, schedule] = value.value_;
  let attempts = 0;
  let changed = false;
  for (let improved = true; improved; ) {
    improved = false;
    for (let t = 0; t < scenario.tasks.length && !improved; t++) {
      const task = scenario.tasks[t] as Scenario['tasks'][number];
      for (let o = 0; o < task.ops.length && !improved; o++) {
        const ops = task.ops.filter((_op, i) => i !== o);
        const tasks =
          ops.length === 0 ? scenario.tasks.filter((_x, i) => i !== t) : scenario.tasks.map((x, i) => (i === t ? { ...x, ops } : x));
        if (tasks.length === 0) continue;
        const cand: Scenario = { ...scenario, tasks };
        attempts++;
        const r = await runSample(driver, [cand, schedule], options);
        if (r.violations.some((v) => v.rule === rule)) {
          scenario = cand;
          improved = true;
          changed = true;
        }
      }
    }
  }
  return { value: changed ? new fc.Value<Sample>([scenario, schedule], undefined) : value, attempts };
}

/** Turns a failing run into a counterexample: shrink, replay with the whole trace, encode the token. */
export async function counterexample(driver: DriverDefinition, index: number, options: CampaignOptions): Promise<Counterexample> {
  const arb = runArb(driver, options);
  const start = arb.generate(new fc.Random(xoroshiro128plus(runSeed(options.seed ?? 1, index))), undefined);
  const first = await runSample(driver, start.value_, options);
  const rule = (first.violations[0] as Violation).rule;
  let { value, attempts } = options.shrink === false ? { value: start, attempts: 0 } : await shrink(driver, arb, start, rule, options);
  if (options.shrink !== false) {
    const dropped = await dropOps(driver, value, rule, options);
    value = dropped.value;
    attempts += dropped.attempts;
  }
  const [scenario, schedule] = value.value_;
  // The token's run: the shrunk sample's decisions, replayed exactly with the whole trace kept.
  const decided = await runSample(driver, value.value_, options);
  const { run: report, violation, token } = await recordToken(driver, scenario, decided.run.decisions, runInputs(options), rule);
  return {
    runIndex: index,
    scenario,
    schedule,
    decisions: report.run.decisions,
    violation,
    report,
    token,
    shrunk: { opsBefore: opsOf(start.value_[0]), opsAfter: opsOf(scenario), attempts },
  };
}

/** What scanning runs found, before any counterexample work. */
export interface Scan {
  done: number;
  steps: number;
  coverage: Record<string, Record<string, number>>;
  flushes: { total: FlushCounts; byEvent: Record<string, FlushCounts> };
  /** Lowest failing run index, or -1. */
  failing: number;
  elapsedMs: number;
}

/**
 * Runs the campaign's runs in index order (those `runFilter` accepts, below `stopAt()`), stopping
 * at the first failure. Workers call this; {@link runCampaign} adds the counterexample.
 */
export async function scanRuns(
  driver: DriverDefinition,
  options: CampaignOptions,
  stopAt: () => number = () => Number.POSITIVE_INFINITY,
): Promise<Scan> {
  const t0 = performance.now();
  const runs = options.runs ?? 1000;
  const seed = options.seed ?? 1;
  const arb = runArb(driver, options);
  const scan: Scan = {
    done: 0,
    steps: 0,
    coverage: { cells: {}, windows: {} },
    flushes: { total: emptyCounts(), byEvent: {} },
    failing: -1,
    elapsedMs: 0,
  };
  for (let i = 0; i < runs && i < stopAt(); i++) {
    if (options.runFilter !== undefined && !options.runFilter(i)) continue;
    if (options.timeMs !== undefined && performance.now() - t0 > options.timeMs) break;
    const sample = arb.generate(new fc.Random(xoroshiro128plus(runSeed(seed, i))), undefined).value_;
    const r = await runSample(driver, sample, options);
    scan.done++;
    scan.steps += r.run.steps;
    mergeCoverage(scan.coverage, r.coverage);
    mergeFlushes(scan.flushes, r.metrics);
    options.onProgress?.(scan.done, runs);
    if (r.verdict === 'fail') {
      scan.failing = i;
      break;
    }
    // Give the event loop a turn now and then, so progress bars draw and workers hear "stop".
    if (scan.done % 32 === 0) await new Promise((res) => setImmediate(res));
  }
  scan.elapsedMs = performance.now() - t0;
  return scan;
}

/** Runs a campaign in this process. */
export async function runCampaign(driver: DriverDefinition, options: CampaignOptions = {}): Promise<CampaignResult> {
  const t0 = performance.now();
  const scan = await scanRuns(driver, options);
  const failure = scan.failing >= 0 ? await counterexample(driver, scan.failing, options) : null;
  const universe = await coverageUniverse(driver, options.shape?.devices);
  return summarize(driver, options, universe, { ...scan, failure, elapsedMs: performance.now() - t0 });
}

/**
 * What pages and owners the devices a campaign uses can meet (its scenarios' device work uses the
 * first `devices` of them), from a probe in a scratch kernel.
 */
export async function coverageUniverse(driver: DriverDefinition, devices = 1): Promise<CoverageUniverse> {
  const inst = await driver.probe(new Kernel({ trace: 'none' }));
  const used = inst.devices.slice(0, Math.max(1, devices));
  const owners = new Set(used.map((d) => d.owner));
  return {
    deviceMemory: used.some((d) => d.pgmap !== null),
    coherent: used.some((d) => d.pgmap?.type === 'coherent'),
    foreignOwners: owners.size > 1,
  };
}

/** Assembles a campaign result (also used to merge worker results). */
export function summarize(
  driver: DriverDefinition,
  options: CampaignOptions,
  universe: CoverageUniverse,
  r: {
    done: number;
    steps: number;
    coverage: Record<string, Record<string, number>>;
    flushes: FlushMetrics;
    failure: Counterexample | null;
    elapsedMs: number;
  },
): CampaignResult {
  const cells = r.coverage.cells ?? {};
  const windows = r.coverage.windows ?? {};
  const missingWindows = (options.requireWindows ?? WINDOWS).filter((w) => (windows[w] ?? 0) === 0);
  const requiredMissing = (options.requireWindows ?? []).filter((w) => (windows[w] ?? 0) === 0);
  const reachedBase = new Set(Object.keys(cells).map(baseCell));
  return {
    driver: driver.name,
    verdict: r.failure !== null || requiredMissing.length > 0 ? 'fail' : 'pass',
    runs: r.done,
    elapsedMs: Math.round(r.elapsedMs),
    seed: options.seed ?? 1,
    strategy: options.strategy ?? 'pct',
    failure: r.failure,
    coverage: { cells, windows },
    flushes: r.flushes,
    missingCells: expectedCells(universe).filter((c) => !reachedBase.has(c)),
    coverageSummary: summarizeCoverage(universe, { cells, windows }, r.done, r.failure !== null),
    missingWindows,
    steps: r.steps,
  };
}

/**
 * Runs `scenario` under a list of scheduler choices with the whole trace kept, leniently: a choice
 * is taken modulo the runnable tasks and the lowest-numbered task runs once the list is used up
 * (hand-written schedules). A token's run is replayed exactly with `replayToken`.
 */
export async function replay(driver: DriverDefinition, scenario: Scenario, decisions: readonly number[]): Promise<CheckedRun> {
  return checkScenario(driver, scenario, { decisions: arrayDecisions(decisions), trace: 'all', maxSteps: 200_000 });
}
