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
import {
  arrayDecisions,
  checkOptionNames,
  HmmlabError,
  internalError,
  Kernel,
  PROFILE_NAMES,
  ProfileMismatchError,
  type ProfileName,
} from '@hmmlab/core';
import type { DriverDefinition, Scenario } from '@hmmlab/harness';
import fc from 'fast-check';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { checkScenarioShape, type ScenarioShape, scenarioGen } from './arbitraries.js';
import {
  absorb,
  type Candidate,
  type CorpusEntry,
  corpusEntryProblem,
  coverageKeys,
  epochs,
  mutantOf,
  mutatesOnceFed,
  poolWeights,
} from './corpus.js';
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
import { defaultMaxSteps, exploreSchedules } from './explore.js';
import * as g from './gen.js';
import { beatDraw, expectRuns, markDrawing, markDrawn } from './heartbeat.js';
import { type RunInputs, recordToken } from './replay.js';
import { type Schedule, type ScheduleShape, STRATEGIES, type StrategyName, scheduleDecisions, scheduleGen } from './schedule.js';
import { checkShard, inShard, type Shard, shardRuns } from './shard.js';

/** What a campaign's `onProgress` learns of the run just done. */
export interface RunProgress {
  /** The coverage cells the campaign reached so far (cell → hits; live, do not keep). */
  readonly cells: Readonly<Record<string, number>>;
  /** True if this run broke a rule (the campaign stops at it). */
  readonly failed: boolean;
}

/** Options of a campaign. */
export interface CampaignOptions {
  /** Runs to try. @defaultValue 1000 */
  readonly runs?: number;
  /** Stop after this many milliseconds even if runs remain. */
  readonly timeMs?: number;
  /** Campaign seed, an integer from 0 to {@link MAX_SEED}. @defaultValue 1 */
  readonly seed?: number;
  /** Schedule strategy. @defaultValue 'pct' */
  readonly strategy?: StrategyName;
  /** Exhaustive strategy: schedules explored per scenario (preemption bound 2). @defaultValue 64 */
  readonly schedulesPerScenario?: number;
  /** Profiles to fuzz (default: the driver's own). */
  readonly profiles?: readonly ProfileName[];
  /** Sizes and mixes of the generated scenarios. */
  readonly shape?: ScenarioShape;
  /** Sizes of the generated schedules. */
  readonly schedule?: ScheduleShape;
  /** Oracle rules to check. */
  readonly rules?: OracleOptions['rules'];
  /** Shrink a counterexample. @defaultValue true */
  readonly shrink?: boolean;
  /** Called as runs complete, with the cells reached so far and whether this run failed. */
  readonly onProgress?: (done: number, total: number, last: RunProgress) => void;
  /** Only run indices this accepts (how workers split a campaign). */
  readonly runFilter?: (index: number) => boolean;
  /** Fail the campaign if one of these race windows was never reached. */
  readonly requireWindows?: readonly string[];
  /** Step limit of one run. @defaultValue 20,000 and 500 per page of the run's layout ({@link defaultMaxSteps}) */
  readonly maxSteps?: number;
  /**
   * Corpus entries (kept by earlier campaigns) to replay first, as runs 0, 1, …, and to mutate.
   * Entries of another profile than the campaign's, or with other kernel what-ifs, are left out.
   */
  readonly corpus?: readonly CorpusEntry[];
  /**
   * Coverage feedback: keep runs that reach coverage no earlier run reached, and draw a share of
   * later runs as mutations of them (see corpus.ts). @defaultValue true
   */
  readonly feedback?: boolean;
  /**
   * Run only this shard's runs (run `k` belongs to shard `k mod count`): `count` campaigns with the
   * same options, one per shard, run exactly the runs of one campaign. Implies no coverage
   * feedback, which would make a run depend on runs other shards run (see shard.ts).
   */
  readonly shard?: Shard;
}

/** The largest campaign seed: {@link runSeed} mixes a seed as a 32-bit integer. */
export const MAX_SEED = 2 ** 32 - 1;

/** Every field of {@link CampaignOptions} (the compiler checks it), for the check of option names. */
export const CAMPAIGN_FIELDS = {
  runs: true,
  timeMs: true,
  seed: true,
  strategy: true,
  schedulesPerScenario: true,
  profiles: true,
  shape: true,
  schedule: true,
  rules: true,
  shrink: true,
  onProgress: true,
  runFilter: true,
  requireWindows: true,
  maxSteps: true,
  corpus: true,
  feedback: true,
  shard: true,
} as const satisfies Record<keyof CampaignOptions, true>;

/**
 * Refuses options that would silently give another campaign than the one asked for: no runs, or a
 * count that is not an integer (a campaign of nothing passes); a seed that is not an integer in
 * [0, {@link MAX_SEED}] (seeds equal modulo 2^32, or 1 and 1.5, made the same runs); an unknown
 * strategy or profile (the default ran instead); a time, step or schedule bound that is not
 * positive.
 */
export function checkCampaignOptions(
  o: Omit<CampaignOptions, 'onProgress' | 'runFilter'>,
  fields: Readonly<Record<string, true>> = CAMPAIGN_FIELDS,
): void {
  const bad = (what: string): never => {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `campaign options: ${what}`);
  };
  checkOptionNames('campaign options', o, fields);
  const positiveInt = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) bad(`${name} ${String(v)}: expected an integer ≥ 1`);
  };
  positiveInt('runs', o.runs);
  positiveInt('schedulesPerScenario', o.schedulesPerScenario);
  positiveInt('maxSteps', o.maxSteps);
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= MAX_SEED))
    bad(`seed ${String(o.seed)}: expected an integer in [0, ${MAX_SEED}]`);
  if (o.timeMs !== undefined && !(typeof o.timeMs === 'number' && o.timeMs > 0 && o.timeMs <= Number.MAX_SAFE_INTEGER))
    bad(`timeMs ${String(o.timeMs)}: expected a number of milliseconds > 0`);
  if (o.strategy !== undefined && !STRATEGIES.includes(o.strategy))
    bad(`strategy "${String(o.strategy)}": expected one of ${STRATEGIES.join(', ')}`);
  if (o.shape !== undefined) checkScenarioShape(o.shape);
  for (const w of o.requireWindows ?? [])
    if (!(WINDOWS as readonly string[]).includes(w))
      bad(`requireWindows: unknown race window "${w}"; the windows are ${WINDOWS.join(', ')}`);
  for (const [i, e] of (o.corpus ?? []).entries()) {
    const problem = corpusEntryProblem(e);
    if (problem !== null) bad(`corpus[${i}]: ${problem}`);
  }
  if (o.profiles !== undefined) {
    if (!Array.isArray(o.profiles) || o.profiles.length === 0) bad('profiles: expected at least one kernel API profile');
    for (const p of o.profiles) if (!PROFILE_NAMES.includes(p)) bad(`profile "${String(p)}": expected one of ${PROFILE_NAMES.join(', ')}`);
  }
}

/** True if the campaign steers runs by coverage: feedback is on and the campaign is not a shard. */
function feedbackOn(options: CampaignOptions): boolean {
  return options.feedback !== false && options.shard === undefined;
}

/** A counterexample. */
export interface Counterexample {
  /** Index of the failing run in the campaign. */
  readonly runIndex: number;
  /** The scenario, shrunk. */
  readonly scenario: Scenario;
  /** The schedule the run drew. */
  readonly schedule: Schedule;
  /** The scheduler's recorded choices: replaying them replays the run. */
  readonly decisions: readonly number[];
  /** The violation the token records. */
  readonly violation: Violation;
  /** The oracle's report on the shrunk run. */
  readonly report: OracleReport;
  /** The replay token (`hmmlab replay <driver> <token>`). */
  readonly token: string;
  /**
   * Ops before and after shrinking.
   * @prop __type.opsBefore - ops of the failing run
   * @prop __type.opsAfter - ops after shrinking
   * @prop __type.attempts - shrink attempts made
   */
  readonly shrunk: { readonly opsBefore: number; readonly opsAfter: number; readonly attempts: number };
}

/** The result of a campaign. */
export interface CampaignResult {
  /** The driver's name. */
  readonly driver: string;
  /** `fail` if a run broke a rule (or a required race window was never reached). */
  readonly verdict: 'pass' | 'fail';
  /** Runs made. */
  readonly runs: number;
  /** Wall-clock duration of the campaign. */
  readonly elapsedMs: number;
  /** The campaign seed. */
  readonly seed: number;
  /** The schedule strategy. */
  readonly strategy: string;
  /** The first failing run, shrunk, or null. */
  readonly failure: Counterexample | null;
  /**
   * What the runs reached: coverage cells and race windows, with how often.
   * @prop __type.cells - coverage cell → count (see `Coverage.cells` of @hmmlab/assertions)
   * @prop __type.windows - race window → count
   */
  readonly coverage: { cells: Record<string, number>; windows: Record<string, number> };
  /** Device flushes issued and needed, over every run. */
  readonly flushes: FlushMetrics;
  /** Expected coverage cells (event|owner|page kind|blockable|device state) never reached. */
  readonly missingCells: readonly string[];
  /** Expected cells reached out of how many, unreached ones grouped, and notes when coverage is thin. */
  readonly coverageSummary: CoverageSummary;
  /** Race windows never reached. */
  readonly missingWindows: readonly string[];
  /** Of those, the ones the campaign required (`requireWindows`): any fails it. */
  readonly requiredWindowsMissing: readonly string[];
  /** Steps taken by all runs (for throughput). */
  readonly steps: number;
  /**
   * Corpus entries replayed, runs that mutated one, and the entries this campaign kept (new coverage).
   * @prop __type.replayed - corpus entries replayed
   * @prop __type.mutants - runs that mutated an entry
   * @prop __type.kept - entries kept for their new coverage
   */
  readonly corpus: { readonly replayed: number; readonly mutants: number; readonly kept: readonly CorpusEntry[] };
  /**
   * A campaign resumed from a checkpoint (`runParallelCampaign`'s `checkpoint`): the runs it had done, and the file.
   * @prop __type.runs - runs the checkpoint had done
   * @prop __type.from - the checkpoint file
   */
  readonly resumed?: { readonly runs: number; readonly from: string };
  /** The corpus folder of a campaign that kept one (`runParallelCampaign`'s `corpusDir`). */
  readonly store?: {
    /** The folder. */
    readonly dir: string;
    /** Entries read from it. */
    readonly loaded: number;
    /** Entries written to it. */
    readonly added: number;
    /** Files in it that could not be read, or were for another driver. */
    readonly skipped: number;
    /** Digest of the entries loaded (`corpusDigest` of corpus.ts). */
    readonly digest: string;
  };
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

function opsOf(s: Scenario): number {
  return s.tasks.reduce((n, t) => n + t.ops.length, 0);
}

/** The arbitrary of one run of a campaign. */
export function runArb(driver: DriverDefinition, options: CampaignOptions): fc.Arbitrary<Sample> {
  return runGen(driver, options).arb;
}

/** The generator of {@link runArb}: a campaign draws its runs with it, and generates a failing one's shrink tree. */
export function runGen(driver: DriverDefinition, options: CampaignOptions): g.Gen<Sample> {
  const profiles = options.profiles ?? driver.profiles ?? ['latest'];
  const strategy = options.strategy ?? 'pct';
  // Exhaustive search enumerates schedules itself: the sample carries an empty walk.
  const schedule =
    strategy === 'exhaustive' ? g.constant<Schedule>({ kind: 'random', choices: [] }) : scheduleGen(strategy, options.schedule);
  const commands = driver.commands ?? [];
  const bindDevices = driver.bindDevices ?? 1;
  const shape = {
    ...options.shape,
    profiles,
    ...(commands.length > 0 ? { commands } : {}),
    ...(bindDevices > 1 ? { bindDevices } : {}),
    devices: campaignDevices(driver, options),
  };
  return g.tuple<Sample>(scenarioGen(shape), schedule);
}

/** Campaign options that do not fit the driver they are for: a usage error of whoever asked for the campaign. */
export class CampaignOptionsError extends Error {
  /** Stable error code. */
  readonly code = 'ERR_CAMPAIGN_OPTIONS';
  constructor(message: string) {
    super(message);
    this.name = 'CampaignOptionsError';
  }
}

/**
 * The address spaces of a binding that a campaign's device work uses: the shape's `devices`, else
 * every one the driver declares (`DriverDefinition.vmsPerBinding`).
 */
export function campaignDevices(driver: DriverDefinition, options: CampaignOptions): number {
  const vms = driver.vmsPerBinding ?? 1;
  const devices = options.shape?.devices;
  // Device work on an address space the binding does not make would do nothing, run after run.
  if (devices !== undefined && devices > vms)
    throw new CampaignOptionsError(
      `shape devices ${devices}: driver "${driver.name}" binds ${vms} device address space${vms === 1 ? '' : 's'} (vmsPerBinding); device work can use 1 to ${vms}`,
    );
  return devices ?? vms;
}

/** The step limit and oracle options of a run of `scenario`, as a token records them. */
export function runInputs(options: CampaignOptions, scenario: Scenario): RunInputs {
  return {
    maxSteps: options.maxSteps ?? defaultMaxSteps(scenario),
    oracle: { stopOnFirst: true, ...(options.rules !== undefined ? { rules: options.rules } : {}) },
  };
}

/** Runs one sample under the oracle. */
export function runSample(
  driver: DriverDefinition,
  sample: Sample,
  options: CampaignOptions,
  keep: 'none' | 'all' = 'none',
): Promise<OracleReport> {
  return judgeSample(driver, sample, options, keep, {});
}

/**
 * Runs one sample whose verdict alone is read: a run a campaign scans, or one it tries while it
 * shrinks. Its oracle is verdict-only (`OracleOptions.verdictOnly`): no trace window, no history
 * of pages kept for explanations, and no `lock` or `page-alloc` events made (docs/performance.md,
 * "Runs that only give a verdict"). What a campaign shows of a failure comes from the replay of
 * its counterexample ({@link recordToken}), with all of them.
 */
export function scanSample(driver: DriverDefinition, sample: Sample, options: CampaignOptions): Promise<OracleReport> {
  return judgeSample(driver, sample, options, 'none', VERDICT_ONLY);
}

/** The oracle options of {@link scanSample}. */
const VERDICT_ONLY = { verdictOnly: true } as const;

/** {@link runSample} with the given oracle options. */
async function judgeSample(
  driver: DriverDefinition,
  sample: Sample,
  options: CampaignOptions,
  keep: 'none' | 'all',
  oracle: { readonly verdictOnly?: boolean },
): Promise<OracleReport> {
  const [scenario, schedule] = sample;
  const rules = options.rules ? { rules: options.rules } : {};
  const maxSteps = options.maxSteps ?? defaultMaxSteps(scenario);
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
  return checkScenario(driver, scenario, {
    decisions: scheduleDecisions(schedule),
    stopOnFirst: true,
    trace: keep,
    maxSteps,
    ...rules,
    ...oracle,
  });
}

/** Shrinks a failing sample while it keeps failing with the same rule. */
async function shrink(
  driver: DriverDefinition,
  arb: fc.Arbitrary<Sample>,
  start: fc.Value<Sample>,
  rule: string,
  options: CampaignOptions,
  prep: (s: Sample) => Sample,
  spent: number,
): Promise<{ value: fc.Value<Sample>; attempts: number }> {
  let cur = start;
  let attempts = spent;
  const budget = 3000;
  for (let improved = true; improved && attempts < budget; ) {
    improved = false;
    for (const cand of arb.shrink(cur.value_, cur.context)) {
      if (++attempts > budget) break;
      const r = await scanSample(driver, prep(cand.value_), options);
      if (r.violations.some((v) => v.rule === rule)) {
        cur = cand;
        improved = true;
        break;
      }
    }
  }
  return { value: cur, attempts };
}

/** `sample` without `Scenario.exitAtEnd`. */
function withoutEnd([scenario, schedule]: Sample): Sample {
  const { exitAtEnd: _end, ...rest } = scenario;
  return [rest, schedule];
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
  /** Runs `cand` under the schedule; keeps it if the rule still fires. */
  const keepIfFails = async (cand: Scenario): Promise<boolean> => {
    attempts++;
    const r = await scanSample(driver, [cand, schedule], options);
    if (!r.violations.some((v) => v.rule === rule)) return false;
    scenario = cand;
    changed = true;
    return true;
  };
  for (let improved = true; improved; ) {
    improved = false;
    for (let t = 0; t < scenario.tasks.length && !improved; t++) {
      const task = scenario.tasks[t] as Scenario['tasks'][number];
      for (let o = 0; o < task.ops.length && !improved; o++) {
        const ops = task.ops.filter((_op, i) => i !== o);
        const tasks =
          ops.length === 0 ? scenario.tasks.filter((_x, i) => i !== t) : scenario.tasks.map((x, i) => (i === t ? { ...x, ops } : x));
        if (tasks.length === 0) continue;
        improved = await keepIfFails({ ...scenario, tasks });
      }
    }
  }
  // Then each region down to the pages the ops reach, without THP: a counterexample keeps a
  // 512-page huge page only when the bug needs it.
  for (let r = 0; r < scenario.regions.length; r++) {
    const region = scenario.regions[r] as Scenario['regions'][number];
    const pages = pagesReached(scenario, r);
    if (pages >= region.pages && region.thp !== true) continue;
    const { thp: _thp, ...plain } = region;
    const regions = scenario.regions.map((x, i) => (i === r ? { ...plain, pages: Math.min(pages, region.pages) } : x));
    await keepIfFails({ ...scenario, regions });
  }
  // And the device memory other users hold, when the bug does not need it.
  if (scenario.deviceMemory !== undefined) {
    const { deviceMemory: _held, ...whole } = scenario;
    await keepIfFails(whole);
  }
  // And the exit at the end, when the bug shows without it.
  if (scenario.exitAtEnd === true) {
    const { exitAtEnd: _end, ...whole } = scenario;
    await keepIfFails(whole);
  }
  return { value: changed ? new fc.Value<Sample>([scenario, schedule], undefined) : value, attempts };
}

/** The pages of region `r` that `scenario`'s ops name (at least 1): one past the last they reach. */
function pagesReached(scenario: Scenario, r: number): number {
  let n = 1;
  for (const t of scenario.tasks) {
    for (const op of t.ops) {
      const o = op as { region?: number; page?: number; pages?: number; through?: { region: number; page: number } };
      if (o.region === r && o.page !== undefined) n = Math.max(n, o.page + (o.through === undefined ? (o.pages ?? 1) : 1));
      if (o.through?.region === r) n = Math.max(n, o.through.page + 1);
    }
  }
  return n;
}

/**
 * The corpus entries a campaign replays first: those of its kernel what-ifs and, when it names
 * profiles, of those profiles.
 */
export function replaysOf(options: CampaignOptions): readonly CorpusEntry[] {
  const profiles: readonly string[] | undefined = options.profiles;
  const overrides = JSON.stringify(options.shape?.profileOverrides ?? null);
  return (options.corpus ?? []).filter(
    (e) =>
      (profiles === undefined || profiles.includes(e.scenario.profile ?? 'latest')) &&
      JSON.stringify(e.scenario.profileOverrides ?? null) === overrides,
  );
}

/** Where run `index`'s sample came from. */
export type RunOrigin = 'replay' | 'mutant' | 'fresh';

/**
 * The sample of run `index`, drawing mutations from `pool` (the corpus at the start of the run's
 * epoch): a corpus entry replayed, a mutant of one, or a fresh sample from the run's own seed.
 * A fresh sample comes with its shrink tree only when `tree` asks for it: the draw without it
 * is the same sample, made faster.
 */
export function planRun(
  gen: g.Gen<Sample>,
  replays: readonly CorpusEntry[],
  options: CampaignOptions,
  index: number,
  pool: readonly CorpusEntry[],
  weights: readonly number[] = [],
  tree = false,
  ahead?: FreshDraws,
): { value: fc.Value<Sample>; origin: RunOrigin } {
  const seed = options.seed ?? 1;
  const replay = replays[index];
  if (replay !== undefined) return { value: new fc.Value<Sample>([replay.scenario, replay.schedule], undefined), origin: 'replay' };
  const f = index - replays.length;
  if (feedbackOn(options)) {
    const m = mutantOf(pool, weights, seed, f, runSeed, { shape: options.shape ?? {}, schedules: options.strategy !== 'exhaustive' });
    if (m !== null) return { value: new fc.Value<Sample>(m, undefined), origin: 'mutant' };
  }
  if (tree) return { value: gen.arb.generate(freshRandom(seed, f), undefined), origin: 'fresh' };
  return { value: new fc.Value<Sample>(ahead?.take(f, pool.length > 0) ?? gen.draw(freshRandom(seed, f)), undefined), origin: 'fresh' };
}

/** The random stream of fresh run `f` (counted from the first generated run) of a campaign seeded `seed`. */
function freshRandom(seed: number, f: number): fc.Random {
  return new fc.Random(xoroshiro128plus(runSeed(seed, f)));
}

/**
 * The fresh samples of one campaign's runs, drawn a batch at a time. Between two runs, a draw of
 * amdkfd-style's scenario took 42 µs, against 19 in a loop of draws (medians): a run leaves none
 * of the draw's code and data in the caches. A fresh sample depends on the seed and the run's
 * index alone, so drawing it ahead changes nothing of the campaign. Runs outside the shard, and runs that
 * are mutants once the corpus holds an entry ({@link mutatesOnceFed}), are not drawn ahead.
 */
export class FreshDraws {
  /** Samples per batch: 512 samples of amdkfd-style's default shape hold 1.3 to 1.9 MiB of heap (after a full collection). */
  static readonly BATCH = 512;
  /**
   * Samples of a campaign's first batch; each next one is twice as large, up to {@link BATCH}. A
   * whole first batch was drawn before the first run: most of the time to detect a bug the first
   * runs find (docs/performance.md, "A campaign's first batch of draws").
   */
  static readonly FIRST_BATCH = 16;
  /**
   * Regions and ops a batch holds at most: 32 a sample over a whole batch, where amdkfd-style's
   * default shape draws 8.5 on average and 18 at most, so only shapes of large scenarios reach it.
   */
  static readonly BATCH_OPS = 16_384;
  readonly gen: g.Gen<Sample>;
  private readonly options: CampaignOptions;
  /** Index of the first generated run (after the replays). */
  private readonly firstFresh: number;
  /** Generated runs of the campaign (`f` below this). */
  private readonly fresh: number;
  private start = 0;
  private batch: (Sample | undefined)[] = [];
  /** Samples of the next batch. */
  private batchSize = FreshDraws.FIRST_BATCH;

  constructor(driver: DriverDefinition, options: CampaignOptions, replays: number) {
    this.gen = runGen(driver, options);
    this.options = options;
    this.firstFresh = replays;
    this.fresh = (options.runs ?? 1000) - replays;
  }

  /** The fresh sample of generated run `f`; `fed`: the corpus holds an entry. */
  take(f: number, fed: boolean): Sample {
    const seed = this.options.seed ?? 1;
    if (f < this.start || f >= this.start + this.batch.length) this.fill(seed, f, fed);
    const got = this.batch[f - this.start];
    this.batch[f - this.start] = undefined;
    return got ?? this.gen.draw(freshRandom(seed, f));
  }

  /**
   * Draws the next batch, from `from` on. The watchdog sees it as hmmlab's drawing, not a run (a
   * shape whose scenarios exhaust the heap is the campaign's, not the driver's), with a beat per
   * sample. A batch also stops once it holds `BATCH_OPS` ops and regions (a shape of large
   * scenarios draws few at a time), which changes no sample: each depends on the seed and its
   * index alone.
   */
  private fill(seed: number, from: number, fed: boolean): void {
    const mutants = fed && feedbackOn(this.options);
    this.start = from;
    this.batch = [];
    const n = this.batchSize;
    this.batchSize = Math.min(2 * n, FreshDraws.BATCH);
    const was = markDrawing();
    try {
      let size = 0;
      for (let f = from; f < Math.min(from + n, this.fresh) && size < FreshDraws.BATCH_OPS; f++) {
        const skip = !inShard(f + this.firstFresh, this.options.shard) || (mutants && mutatesOnceFed(seed, f, runSeed));
        const s = skip ? undefined : this.gen.draw(freshRandom(seed, f));
        if (s !== undefined) size += s[0].regions.length + opsOf(s[0]);
        this.batch.push(s);
        beatDraw();
      }
    } finally {
      markDrawn(was);
    }
  }
}

/**
 * Turns a failing run into a counterexample: shrink, replay with the whole trace, encode the token.
 * `pool` is the corpus the run drew from. A fresh run shrinks through its arbitrary's shrink tree
 * and then op by op; a replayed or mutated one op by op only (it has no shrink tree).
 */
export async function counterexample(
  driver: DriverDefinition,
  index: number,
  options: CampaignOptions,
  pool: readonly CorpusEntry[] = [],
  weights: readonly number[] = [],
): Promise<Counterexample> {
  const gen = runGen(driver, options);
  const arb = gen.arb;
  const { value: start, origin } = planRun(gen, replaysOf(options), options, index, pool, weights, true);
  const first = await scanSample(driver, start.value_, options);
  const rule = (first.violations[0] as Violation).rule;
  let value = start;
  let attempts = 0;
  let prep = (s: Sample): Sample => s;
  if (options.shrink !== false) {
    // A bug the programs show without the exit at the end is shrunk without it, so that the
    // counterexample keeps the op that shows it rather than leaning on the exit's zap.
    if (start.value_[0].exitAtEnd === true) {
      attempts++;
      const endless = withoutEnd(start.value_);
      if ((await scanSample(driver, endless, options)).violations.some((v) => v.rule === rule)) prep = withoutEnd;
    }
    if (origin === 'fresh') ({ value, attempts } = await shrink(driver, arb, start, rule, options, prep, attempts));
    const dropped = await dropOps(driver, new fc.Value<Sample>(prep(value.value_), undefined), rule, options);
    value = dropped.value;
    attempts += dropped.attempts;
  }
  const [scenario, schedule] = prep(value.value_);
  // The token's run: the shrunk sample's decisions, replayed exactly with the whole trace kept.
  const decided = await scanSample(driver, value.value_, options);
  const { run: report, violation, token } = await recordToken(driver, scenario, decided.run.decisions, runInputs(options, scenario), rule);
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
  /** Runs scanned. */
  done: number;
  /** Scheduler steps taken by them. */
  steps: number;
  /** Coverage reached: `cells` and `windows`, each key → count. */
  coverage: Record<string, Record<string, number>>;
  /**
   * Device flush metrics.
   * @prop __type.total - over every run
   * @prop __type.byEvent - per invalidation event
   */
  flushes: { total: FlushCounts; byEvent: Record<string, FlushCounts> };
  /** Lowest failing run index, or -1. */
  failing: number;
  /** Wall-clock duration of the scan. */
  elapsedMs: number;
  /** Corpus entries replayed and runs that mutated one. */
  replayed: number;
  /** Runs that mutated a corpus entry. */
  mutants: number;
  /** Runs of this scan that reached coverage keys new at the start of their epoch. */
  candidates: Candidate[];
  /** Entries the campaign kept (after merging candidates epoch by epoch). */
  kept: CorpusEntry[];
  /** The corpus the failing run drew from, and its weights. */
  failingPool: CorpusEntry[];
  /** The weights of `failingPool`, index for index. */
  failingWeights: number[];
}

/** An empty scan. */
export function emptyScan(): Scan {
  return {
    done: 0,
    steps: 0,
    coverage: { cells: {}, windows: {} },
    flushes: { total: emptyCounts(), byEvent: {} },
    failing: -1,
    elapsedMs: 0,
    replayed: 0,
    mutants: 0,
    candidates: [],
    kept: [],
    failingPool: [],
    failingWeights: [],
  };
}

/** One epoch of a campaign as a worker scans it: runs `[from, to)`, the corpus `pool`, the coverage keys `known` then. */
export interface EpochFeed {
  readonly from: number;
  readonly to: number;
  readonly pool: readonly CorpusEntry[];
  /** How often each pool entry is picked for mutation ({@link poolWeights}). */
  readonly weights: readonly number[];
  readonly known: readonly string[];
}

/** Adds scan `b` into `a` (not its candidates, kept entries or failure). */
export function addScan(a: Scan, b: Scan): void {
  a.done += b.done;
  a.steps += b.steps;
  a.replayed += b.replayed;
  a.mutants += b.mutants;
  mergeCoverage(a.coverage, { cells: b.coverage.cells ?? {}, windows: b.coverage.windows ?? {} });
  mergeFlushes(a.flushes, b.flushes);
}

/** What a campaign of several epochs gives {@link scanEpoch}. */
export interface EpochHooks {
  /** The campaign's fresh samples, drawn ahead across its epochs. */
  readonly ahead?: FreshDraws;
  /** Called before each run starts, with its index. */
  readonly onStart?: (index: number) => void;
  /** Runs of the epoch made before the scan, by index ({@link MadeRun}): taken as made, not run again. */
  readonly made?: ReadonlyMap<number, MadeRun>;
}

/**
 * A run made before the scan of its epoch, with the sample that epoch's plan gives it (only a run
 * {@link freshWhatever} says is fresh can be): its report, or what it threw (`report` null).
 */
export interface MadeRun {
  readonly sample: Sample;
  readonly report: OracleReport | null;
  readonly error: unknown;
}

/**
 * Whether run `index` of a campaign with `replays` replayed entries is drawn afresh whatever the
 * corpus holds when its epoch comes: its sample then depends on the seed and the index alone, and
 * the run can be made before its epoch's corpus is known.
 */
export function freshWhatever(options: CampaignOptions, replays: number, index: number): boolean {
  return index >= replays && !(feedbackOn(options) && mutatesOnceFed(options.seed ?? 1, index - replays, runSeed));
}

/**
 * What a campaign reports of run `index` that threw `e`: an internal error, or a call the kernel
 * profile lacks, names the run; anything else is the driver's.
 */
function runFailure(driver: DriverDefinition, options: CampaignOptions, index: number, origin: RunOrigin, e: unknown): unknown {
  const where = `${driver.name}: run ${index} of seed ${options.seed ?? 1} (${origin})`;
  if (e instanceof ProfileMismatchError) return new ProfileMismatchError(`${where}: ${e.message}`);
  if (internalError(e) === null) return e;
  return new HmmlabError('ERR_INTERNAL', `${where}: ${(e as Error).message}`);
}

/**
 * Scans the runs of one epoch (those `runFilter` accepts, below `stopAt()`), in index order,
 * stopping at the first failure; returns what they found and the runs that reached new keys.
 */
export async function scanEpoch(
  driver: DriverDefinition,
  options: CampaignOptions,
  feed: EpochFeed,
  stopAt: () => number = () => Number.POSITIVE_INFINITY,
  progress: (done: number, last: RunProgress) => void = () => {},
  hooks: EpochHooks = {},
): Promise<Scan> {
  const t0 = performance.now();
  const ahead = hooks.ahead;
  const gen = ahead?.gen ?? runGen(driver, options);
  const replays = replaysOf(options);
  const known = new Set(feed.known);
  const scan = emptyScan();
  for (let i = feed.from; i < feed.to && i < stopAt(); i++) {
    if (!inShard(i, options.shard)) continue;
    if (options.runFilter !== undefined && !options.runFilter(i)) continue;
    if (options.timeMs !== undefined && performance.now() - t0 > options.timeMs) break;
    const made = hooks.made?.get(i);
    let sample: Sample;
    let origin: RunOrigin;
    let r: OracleReport;
    if (made !== undefined) {
      sample = made.sample;
      origin = 'fresh';
      if (made.report === null) throw runFailure(driver, options, i, origin, made.error);
      r = made.report;
    } else {
      hooks.onStart?.(i);
      const plan = planRun(gen, replays, options, i, feed.pool, feed.weights, false, ahead);
      sample = plan.value.value_;
      origin = plan.origin;
      try {
        r = await scanSample(driver, sample, options);
      } catch (e) {
        // A broken model has no verdict to give: the campaign stops, naming the run to replay.
        throw runFailure(driver, options, i, origin, e);
      }
    }
    scan.done++;
    if (origin === 'replay') scan.replayed++;
    if (origin === 'mutant') scan.mutants++;
    scan.steps += r.run.steps;
    mergeCoverage(scan.coverage, r.coverage);
    mergeFlushes(scan.flushes, r.metrics);
    progress(scan.done, { cells: scan.coverage.cells ?? {}, failed: r.verdict === 'fail' });
    if (r.verdict === 'fail') {
      scan.failing = i;
      scan.failingPool = [...feed.pool];
      scan.failingWeights = [...feed.weights];
      break;
    }
    if (feedbackOn(options)) {
      const keys = coverageKeys(r.coverage);
      if (keys.some((k) => !known.has(k))) scan.candidates.push({ index: i, entry: { scenario: sample[0], schedule: sample[1], keys } });
    }
    // Give the event loop a turn now and then, so progress bars draw and workers hear "stop".
    if (scan.done % 32 === 0) await new Promise((res) => setImmediate(res));
  }
  scan.elapsedMs = performance.now() - t0;
  return scan;
}

/**
 * Where {@link scanRuns} starts and what it tells after each epoch, for a campaign that goes on in
 * a worker (jobs.ts, `campaignJob`).
 */
export interface ScanResume {
  /**
   * The state of a campaign after its runs below `next`: its corpus, known coverage keys and the
   * coverage its runs reached (the pool's weights come from it). Unset: from the first run.
   */
  readonly from?: {
    readonly next: number;
    readonly pool: readonly CorpusEntry[];
    readonly known: readonly string[];
    readonly coverage: Scan['coverage'];
  };
  /** Called before each run starts, with its index. */
  readonly onStart?: (index: number) => void;
  /** Called with each epoch's scan, before it is merged. */
  readonly onEpoch?: (from: number, to: number, scan: Scan) => void;
  /**
   * Called after each run with the runs done so far and the coverage of the run's epoch (live, not
   * merged with the epochs before: no copy per run, unlike `onProgress`).
   */
  readonly onRun?: (done: number, epoch: RunProgress) => void;
}

/**
 * Runs the campaign's runs in index order, epoch by epoch (those `runFilter` accepts, below
 * `stopAt()`), stopping at the first failure; after each epoch, the runs that reached new
 * coverage join the corpus later epochs mutate. {@link runCampaign} adds the counterexample.
 */
export async function scanRuns(
  driver: DriverDefinition,
  options: CampaignOptions,
  stopAt: () => number = () => Number.POSITIVE_INFINITY,
  resume: ScanResume = {},
): Promise<Scan> {
  checkCampaignOptions(options);
  const t0 = performance.now();
  const runs = options.runs ?? 1000;
  expectRuns(runs);
  const replays = replaysOf(options);
  const total = emptyScan();
  const pool: CorpusEntry[] = [...(resume.from?.pool ?? replays)];
  const known = new Set<string>(resume.from?.known);
  const at = resume.from?.coverage;
  if (at !== undefined) mergeCoverage(total.coverage, { cells: at.cells ?? {}, windows: at.windows ?? {} });
  // Drawn ahead only when every run in the shard is run: a filter's runs are not known before.
  const hooks: EpochHooks = {
    ...(options.runFilter === undefined ? { ahead: new FreshDraws(driver, options, replays.length) } : {}),
    ...(resume.onStart !== undefined ? { onStart: resume.onStart } : {}),
  };
  for (const [from, to] of epochs(runs, replays.length)) {
    if (from < (resume.from?.next ?? 0)) continue;
    if (from >= stopAt()) break;
    const left = options.timeMs === undefined ? undefined : options.timeMs - (performance.now() - t0);
    if (left !== undefined && left <= 0) break;
    const base = total.done;
    const s = await scanEpoch(
      driver,
      { ...options, ...(left !== undefined ? { timeMs: left } : {}) },
      { from, to, pool, weights: poolWeights(pool, total.coverage), known: [...known] },
      stopAt,
      (done, last) => {
        resume.onRun?.(base + done, last);
        options.onProgress?.(base + done, shardRuns(runs, options.shard), {
          cells: { ...total.coverage.cells, ...last.cells },
          failed: last.failed,
        });
      },
      hooks,
    );
    resume.onEpoch?.(from, to, s);
    addScan(total, s);
    if (s.failing >= 0) {
      total.failing = s.failing;
      total.failingPool = s.failingPool;
      total.failingWeights = s.failingWeights;
      break;
    }
    const kept = absorb(s.candidates, known);
    // Replayed entries only teach the campaign what is known; they are in the pool already.
    if (from >= replays.length) {
      total.kept.push(...kept);
      pool.push(...kept);
    }
  }
  total.elapsedMs = performance.now() - t0;
  return total;
}

/** Runs a campaign in this process. */
export async function runCampaign(driver: DriverDefinition, options: CampaignOptions = {}): Promise<CampaignResult> {
  checkCampaignOptions(options);
  if (options.shard !== undefined) checkShard(options.shard);
  const t0 = performance.now();
  const scan = await scanRuns(driver, options);
  const failure = scan.failing >= 0 ? await counterexample(driver, scan.failing, options, scan.failingPool, scan.failingWeights) : null;
  const universe = await coverageUniverse(driver, campaignDevices(driver, options));
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
    replayed: number;
    mutants: number;
    kept: readonly CorpusEntry[];
  },
): CampaignResult {
  const cells = r.coverage.cells ?? {};
  const windows = r.coverage.windows ?? {};
  const missingWindows = WINDOWS.filter((w) => (windows[w] ?? 0) === 0);
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
    requiredWindowsMissing: requiredMissing,
    steps: r.steps,
    corpus: { replayed: r.replayed, mutants: r.mutants, kept: r.kept },
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
