/**
 * The jobs a watched worker runs for a campaign (parallel.ts): load and probe the driver, scan a
 * share of the runs, and finish (counterexample, coverage, summary). Driver code runs only here.
 */
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatOwner, type OracleReport, type Violation } from '@hmmlab/assertions';
import { firstRunnable, HmmlabError, Kernel, type TraceEvent } from '@hmmlab/core';
import {
  BindingMismatchError,
  checkProbedDevices,
  type DriverDefinition,
  type DriverInstance,
  DriverLoadError,
  loadDriver,
  runScenario,
  type Scenario,
} from '@hmmlab/harness';
import {
  type CampaignOptions,
  type CampaignResult,
  type Counterexample,
  campaignDevices,
  counterexample,
  coverageUniverse,
  type EpochFeed,
  freshWhatever,
  type MadeRun,
  planRun,
  type RunProgress,
  replaysOf,
  runGen,
  runInputs,
  type Scan,
  type ScanResume,
  scanEpoch,
  scanRuns,
  scanSample,
  summarize,
} from './campaign.js';
import { type CorpusEntry, nextEpoch } from './corpus.js';
import { emptyCounts } from './counts.js';
import { expectRuns, markLoaded, markRun, onParentNote, send } from './heartbeat.js';
import { UNFINISHED_FINGERPRINT } from './replay.js';
import { inShard, shardPosition } from './shard.js';
import { encodeToken } from './token.js';
import type { Stall } from './watchdog.js';

// hmmlab's own packages: stack frames there are not the driver's.
const PACKAGES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..') + sep;

/** `file:line` of the first stack frame in driver code (not hmmlab's, not node's). */
function driverLocation(e: unknown, fallback: string): string {
  const stack = e instanceof Error ? (e.stack ?? '') : '';
  for (const line of stack.split('\n')) {
    const m = /\(?(?:file:\/\/)?(\/[^():]+):(\d+):\d+\)?$/.exec(line.trim());
    if (m === null) continue;
    const file = m[1] as string;
    if (file.startsWith(PACKAGES) || file.includes(`${sep}node_modules${sep}`)) continue;
    return `${relative(process.cwd(), file)}:${m[2]}`;
  }
  return fallback;
}

/**
 * Loads the driver module and probes it once in a scratch kernel, so that a driver that cannot
 * start fails as a load error (`file:line: message`), not in the middle of a campaign or of a
 * replay. In a watched worker, a probe that stops responding is then reported as such (the
 * watchdog's `probing` phase).
 */
export async function loadProbedDriver(file: string): Promise<DriverDefinition> {
  const driver = await loadDriver(file);
  markLoaded();
  let devices: DriverInstance['devices'];
  try {
    devices = (await driver.probe(new Kernel({ trace: 'none' }))).devices;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new DriverLoadError(file, `${driverLocation(e, resolve(file))}: probe of driver "${driver.name}" threw: ${msg}`, e);
  }
  try {
    checkProbedDevices(devices);
  } catch (e) {
    throw new DriverLoadError(file, `${resolve(file)}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  // A binding the definition does not describe (more address spaces than vmsPerBinding) would
  // fail every run as the driver's own error: one bind in a scratch run reports it as a load error.
  const scratch = await runScenario(driver, SCRATCH_SCENARIO, { decisions: firstRunnable, trace: 'none' });
  const e = scratch.run.error;
  if (e instanceof BindingMismatchError) throw new DriverLoadError(file, `${resolve(file)}: ${e.message}`, e);
  return driver;
}

/** One untouched page and no program: the driver's probe and bind, then the run's end. */
const SCRATCH_SCENARIO: Scenario = { regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon' }], tasks: [] };

/** Each driver module this worker has loaded and probed (a campaign's epochs use it again and again). */
const probed = new Map<string, Promise<DriverDefinition>>();

/** {@link loadProbedDriver}, once per module in this worker; a failed load is tried again next time. */
function loadProbed(file: string): Promise<DriverDefinition> {
  let p = probed.get(file);
  if (p === undefined) {
    p = loadProbedDriver(file);
    probed.set(file, p);
    p.catch(() => probed.delete(file));
  }
  return p;
}

/** Loads and probes the driver; notes `ready` and returns its name. */
export async function nameJob(a: { readonly file: string }): Promise<string> {
  await stopAhead();
  const driver = await loadProbed(a.file);
  send({ type: 'ready', name: driver.name, profiles: driver.profiles ?? null });
  return driver.name;
}

/**
 * What an epoch adds to the campaign's corpus, as the watching thread sends it: the pool entries
 * and coverage keys kept since the last epoch it sent this worker (the pool and the keys only
 * grow), and every entry's weight: the whole pool would be 150 KB of structured clone per epoch
 * and worker once a campaign of amdkfd-style has kept its 100 entries.
 */
export interface FeedDelta {
  /** The campaign: a worker scans for one campaign at a time. */
  readonly campaign: string;
  readonly from: number;
  readonly to: number;
  /** Entries of the pool this worker already has; `pool` follows them. */
  readonly poolFrom: number;
  readonly pool: readonly CorpusEntry[];
  /** Keys this worker already has; `known` follows them. */
  readonly knownFrom: number;
  readonly known: readonly string[];
  readonly weights: readonly number[];
}

/** The pool and known keys of the campaign this worker scans for, as its epochs' feeds built them. */
let corpus: { campaign: string; pool: CorpusEntry[]; known: string[] } | null = null;

/** The epoch's whole feed: what this worker has of the campaign's corpus, and `d`. */
function feedOf(d: FeedDelta): EpochFeed {
  if (corpus === null || corpus.campaign !== d.campaign) corpus = { campaign: d.campaign, pool: [], known: [] };
  if (d.poolFrom !== corpus.pool.length || d.knownFrom !== corpus.known.length) {
    throw new HmmlabError(
      'ERR_STATE',
      `scanJob: the epoch's corpus continues from ${d.poolFrom} entries and ${d.knownFrom} keys, but this worker has ${corpus.pool.length} and ${corpus.known.length}`,
    );
  }
  corpus.pool.push(...d.pool);
  corpus.known.push(...d.known);
  return { from: d.from, to: d.to, pool: corpus.pool, weights: d.weights, known: corpus.known };
}

/** Arguments of {@link scanJob}. */
export interface ScanJob {
  readonly file: string;
  readonly options: CampaignOptions;
  /** This worker scans the runs of the campaign's shard whose position in the shard is `index` mod `count`. */
  readonly index: number;
  readonly count: number;
  /** The epoch to scan. */
  readonly feed: FeedDelta;
  /** Runs this worker did in earlier epochs (its progress notes count on from there). */
  readonly doneBefore: number;
}

/** Progress notes are sent at most this often (ms), besides the one for a run that broke a rule and the last of an epoch. */
const PROGRESS_EVERY_MS = 100;

/**
 * The `progress` notes of a worker's runs: the runs done (counted on from `doneBefore`), the cells
 * reached for the first time, and the runs that broke a rule, since the last note. `flush` sends
 * what is pending.
 */
function progressNotes(doneBefore: number): { progress: (done: number, last: RunProgress) => void; flush: () => void } {
  const known = new Set<string>();
  let pending: { done: number; cells: string[]; failed: number } | null = null;
  let sentAt = performance.now();
  const flush = (): void => {
    if (pending === null) return;
    send({ type: 'progress', done: doneBefore + pending.done, cells: pending.cells, failed: pending.failed });
    pending = null;
    sentAt = performance.now();
  };
  const progress = (done: number, last: RunProgress): void => {
    pending ??= { done, cells: [], failed: 0 };
    pending.done = done;
    for (const c in last.cells) {
      if (known.has(c)) continue;
      known.add(c);
      pending.cells.push(c);
    }
    if (last.failed) pending.failed++;
    if (last.failed || performance.now() - sentAt >= PROGRESS_EVERY_MS) flush();
  };
  return { progress, flush };
}

/** Listens for the lowest run index another worker stopped at; `stopAt()` reads it. */
function stopNotes(): { stopAt: () => number; stop: () => void } {
  let stopAt = Number.POSITIVE_INFINITY;
  const stop = onParentNote((n) => {
    const at = (n as { stopAt?: unknown }).stopAt;
    if (typeof at === 'number') stopAt = Math.min(stopAt, at);
  });
  return { stopAt: () => stopAt, stop };
}

/** The campaign whose `ready` this worker has noted (scanJob). */
let readyFor: string | null = null;

/**
 * Scans this worker's share of the runs; notes `ready` (the driver's name, in its first job of the
 * campaign) and `progress`: the runs done, the cells reached for the first time in this epoch, and
 * the runs that broke a rule, since the last note.
 */
export async function scanJob(a: ScanJob): Promise<Scan> {
  const before = await stopAhead();
  expectRuns(a.options.runs ?? 1000);
  const driver = await loadProbed(a.file);
  // Once a campaign: its caller takes the first `ready` of all its workers, and an epoch's job
  // comes to every worker (three hops, from this thread to the command, for each).
  if (readyFor !== a.feed.campaign) {
    readyFor = a.feed.campaign;
    send({ type: 'ready', name: driver.name, profiles: driver.profiles ?? null });
  }
  const feed = feedOf(a.feed);
  const { stopAt, stop } = stopNotes();
  const { progress, flush } = progressNotes(a.doneBefore);
  const mine = (i: number): boolean => inShard(i, a.options.shard) && shardPosition(i, a.options.shard) % a.count === a.index;
  let scan: Scan;
  try {
    const runFilter = (i: number): boolean => {
      if (!mine(i)) return false;
      markRun(i);
      return true;
    };
    const made = before !== null && before.campaign === a.feed.campaign && before.from === a.feed.from ? before.made : null;
    scan = await scanEpoch(driver, { ...a.options, runFilter }, feed, stopAt, progress, made === null ? {} : { made });
  } finally {
    flush();
    markRun(-1);
    stop();
  }
  const next = nextEpoch(a.feed.to, a.options.runs ?? 1000, replaysOf(a.options).length);
  if (scan.failing < 0 && next !== null && next[0] < stopAt()) makeAhead(driver, a, next, mine);
  return scan;
}

/**
 * Runs of the next epoch this worker makes while its caller merges the epoch it just scanned and
 * sends the next job: a per-epoch job waits for every worker's runs of the epoch before, and that
 * round trip between processes took 4 to 5 ms an epoch, a fifth of the time of a worker's share
 * of 50 runs (two workers).
 * Only the runs whose sample does not depend on the corpus are made ahead (nine in ten); the next
 * scan takes them as made and runs the others, so the scan, and the campaign, are what they would
 * be without them.
 */
interface Ahead {
  readonly campaign: string;
  /** The first run of the epoch. */
  readonly from: number;
  readonly made: Map<number, MadeRun>;
  stop: boolean;
  /** Settles when the last run it started has ended. */
  done: Promise<void>;
}

let ahead: Ahead | null = null;

/** Stops making runs ahead; resolves, once the run being made has ended, with what was made. */
async function stopAhead(): Promise<Ahead | null> {
  const a = ahead;
  ahead = null;
  if (a === null) return null;
  a.stop = true;
  await a.done;
  return a;
}

/** A turn of the event loop: a job or note that came in is handled first. */
const turn = (): Promise<void> => new Promise((res) => setImmediate(res));

/**
 * Starts making this worker's runs of epoch `next` ({@link Ahead}), after a turn of the event
 * loop (the scan's result leaves first); any job, or the caller's note of a run below them that
 * failed, stops it.
 */
function makeAhead(driver: DriverDefinition, a: ScanJob, next: [number, number], mine: (i: number) => boolean): void {
  const replays = replaysOf(a.options);
  const indices: number[] = [];
  for (let i = next[0]; i < next[1]; i++) if (mine(i) && freshWhatever(a.options, replays.length, i)) indices.push(i);
  if (indices.length === 0) return;
  const state: Ahead = { campaign: a.feed.campaign, from: next[0], made: new Map(), stop: false, done: Promise.resolve() };
  const unlisten = onParentNote((n) => {
    const at = (n as { stopAt?: unknown }).stopAt;
    if (typeof at === 'number' && at < next[1]) state.stop = true;
  });
  state.done = (async () => {
    await turn();
    if (state.stop) return;
    const gen = runGen(driver, a.options);
    const samples = indices.map((i) => planRun(gen, replays, a.options, i, [], []).value.value_);
    for (const [k, i] of indices.entries()) {
      if (state.stop) break;
      const sample = samples[k] as MadeRun['sample'];
      markRun(i);
      let report: OracleReport;
      try {
        report = await scanSample(driver, sample, a.options);
      } catch (error) {
        state.made.set(i, { sample, report: null, error });
        break;
      }
      state.made.set(i, { sample, report, error: null });
      if (report.verdict === 'fail') break;
      await turn();
    }
  })().finally(() => {
    markRun(-1);
    unlisten();
  });
  ahead = state;
}

/** Arguments of {@link campaignJob}. */
export interface CampaignJob {
  readonly file: string;
  readonly options: CampaignOptions;
  /** Where the campaign starts (`ScanResume.from`): from its first run, or from a checkpoint. */
  readonly start: NonNullable<ScanResume['from']>;
  /**
   * Milliseconds the campaign has left, counted from the moment the driver is loaded here (as a
   * first per-epoch job's scan counts its `timeMs`): no epoch starts after that.
   */
  readonly timeLeft: number | null;
}

/**
 * The whole campaign in this one worker, epoch after epoch without waiting for the caller: it is
 * {@link scanRuns}, the in-process campaign, which merges each epoch's candidates into the corpus
 * as {@link scanJob}'s caller does for its workers. Notes `ready`, `progress`, and `epoch` with
 * each epoch's scan, from which the caller merges, checkpoints and reports exactly as it does the
 * results of {@link scanJob}. It ends after the epoch of the first failing run, after the last
 * epoch, or when the time left is up.
 */
export async function campaignJob(a: CampaignJob): Promise<void> {
  await stopAhead();
  const driver = await loadProbed(a.file);
  send({ type: 'ready', name: driver.name, profiles: driver.profiles ?? null });
  if (a.timeLeft !== null && a.timeLeft <= 0) return;
  const { progress, flush } = progressNotes(0);
  try {
    await scanRuns(driver, { ...a.options, ...(a.timeLeft !== null ? { timeMs: a.timeLeft } : {}) }, undefined, {
      from: a.start,
      onStart: markRun,
      onRun: progress,
      onEpoch: (from, to, scan) => {
        flush();
        send({ type: 'epoch', from, to, scan });
      },
    });
  } finally {
    flush();
    markRun(-1);
  }
}

/**
 * Waits until this worker makes no run: it stops making runs ahead of an epoch (`makeAhead`) and
 * waits for the run in progress to end. A host is kept for another campaign only after this job
 * returned: a run of the campaign before that hangs would be taken for one of the next.
 */
export async function quiesceJob(): Promise<void> {
  await stopAhead();
}

/** Arguments of {@link finishJob}. */
export interface FinishJob {
  readonly file: string;
  readonly options: CampaignOptions;
  /** The merged scans. */
  readonly scan: Scan;
  /** A run the watchdog stopped, if it comes before any failing run. */
  readonly stall: Stall | null;
}

/** Builds the campaign result: the counterexample of the first failing (or stalled) run, coverage. */
export async function finishJob(a: FinishJob): Promise<CampaignResult> {
  // Runs made ahead of an epoch that will not come: what they found is not the campaign's.
  await stopAhead();
  const driver = await loadDriver(a.file);
  markLoaded();
  const failure =
    a.stall !== null
      ? stalledCounterexample(driver, a.stall, a.options, a.scan.failingPool, a.scan.failingWeights)
      : a.scan.failing >= 0
        ? await counterexample(driver, a.scan.failing, a.options, a.scan.failingPool, a.scan.failingWeights)
        : null;
  const universe = await coverageUniverse(driver, campaignDevices(driver, a.options));
  return summarize(driver, a.options, universe, { ...a.scan, failure: failure === null ? null : plain(failure) });
}

/**
 * A violation whose trace events name owners as text: an owner is whatever pointer the driver
 * passed (often its device object, with closures), which cannot leave the worker.
 */
function plainViolation(v: Violation): Violation {
  const trace = v.trace.map((e) =>
    'owner' in e && typeof e.owner === 'object' && e.owner !== null ? ({ ...e, owner: formatOwner(e.owner) } as TraceEvent) : e,
  );
  return { ...v, trace };
}

/** The counterexample without the replayed world (kernel, driver closures): what can leave the worker. */
function plain(c: Counterexample): Counterexample {
  const { verdict, violations, metrics, coverage, run } = c.report;
  return {
    ...c,
    violation: plainViolation(c.violation),
    report: { verdict, violations: violations.map(plainViolation), metrics, coverage, run },
  };
}

/**
 * The counterexample of a run the watchdog stopped: the run's scenario (regenerated from its
 * index and the corpus of its epoch, as every run is) and the decisions it made before driver code stopped returning. It is
 * not shrunk: every shrinking attempt could hang for the whole bound.
 */
function stalledCounterexample(
  driver: DriverDefinition,
  s: Stall,
  options: CampaignOptions,
  pool: readonly CorpusEntry[],
  weights: readonly number[],
): Counterexample {
  if (s.decisions === null) {
    throw new HmmlabError(
      'ERR_STATE',
      s.kind === 'aborted'
        ? `run ${s.run}: driver code made V8 abort the process it ran in ("${s.message ?? 'no message'}") while it still made progress, so the watchdog has no scheduler decisions to replay it with`
        : `run ${s.run} stalled after more scheduler decisions than the watchdog records`,
    );
  }
  const [scenario, schedule] = planRun(runGen(driver, options), replaysOf(options), options, s.run, pool, weights).value.value_;
  const violation = stallViolation(s);
  const report: OracleReport = {
    verdict: 'fail',
    violations: [violation],
    metrics: { total: emptyCounts(), byEvent: {} },
    coverage: { cells: {}, windows: {} },
    run: { status: s.kind === 'hung' ? 'hung' : 'error', steps: s.step, message: violation.explanation, decisions: [...s.decisions] },
  };
  const ops = scenario.tasks.reduce((n, t) => n + t.ops.length, 0);
  return {
    runIndex: s.run,
    scenario,
    schedule,
    decisions: s.decisions,
    violation,
    report,
    token: encodeStallToken(driver.name, scenario, s, violation, options),
    shrunk: { opsBefore: ops, opsAfter: ops, attempts: 0 },
  };
}

/**
 * The token of a stopped run, in the same format as every token: its scenario, the decisions it
 * made, and how it ended (the stall's rule at its step). The run never finished, so it has no
 * trace to fingerprint: {@link UNFINISHED_FINGERPRINT} stands for one. Replaying it stalls again
 * at the same step (`hmmlab replay` runs it under the same watchdog), or diverges.
 */
function encodeStallToken(driver: string, scenario: Scenario, s: Stall, v: Violation, options: CampaignOptions): string {
  return encodeToken({
    driver,
    scenario,
    decisions: s.decisions ?? [],
    ...runInputs(options, scenario),
    expected: { rule: v.rule, step: s.step, steps: s.step, fingerprint: UNFINISHED_FINGERPRINT },
  });
}

/**
 * The report of a stopped run: `callback-hung` when driver code kept the thread past the hang
 * bound, `callback-threw` when it exhausted the heap (V8 ends the thread as if by a throw) or made
 * V8 abort the process it ran in.
 */
export function stallViolation(s: Stall): Violation {
  const explanation =
    s.kind === 'hung'
      ? `driver code did not return control for ${s.bound / 1000} s after scheduler step ${s.step} (a loop that never ends: synchronous, or awaiting only promises that are already settled, as await Promise.resolve() in a retry loop?); the watchdog stopped it (--hang-timeout)`
      : s.kind === 'out-of-memory'
        ? `driver code exhausted the heap limit of ${s.bound} MB after scheduler step ${s.step} (an allocation without bound?); the watchdog stopped it (--max-heap)`
        : `driver code made V8 abort the process it ran in after scheduler step ${s.step}: "${s.message ?? 'no message'}" (one array or allocation grown without bound?); the watchdog reports it from outside that process`;
  return {
    rule: s.kind === 'hung' ? 'callback-hung' : 'callback-threw',
    explanation,
    step: s.step,
    seq: -1,
    task: 'unknown (it did not return)',
    mm: null,
    va: null,
    page: null,
    device: null,
    invalidation: null,
    callbacks: [],
    translations: [],
    context: null,
    trace: [],
  };
}
