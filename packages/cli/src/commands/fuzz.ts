/**
 * `hmmlab fuzz <driver...>`: fuzz driver callbacks against random workloads, migrations and
 * interleavings, in watched worker threads. Exit 0: no violation (or, for drivers with an
 * expected.json, their known bug found with an expected rule); 1: a violation (a hung callback
 * included); 2: bad usage or a driver that does not load; 130: interrupted.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { PROFILE_NAMES, type ProfileName } from '@hmmlab/core';
import {
  type CampaignResult,
  CheckpointError,
  HostPool,
  MAX_SEED,
  runParallelCampaign,
  type Shard,
  STRATEGIES,
  type StrategyName,
  shardRuns,
  WINDOWS,
} from '@hmmlab/fuzz';
import { MultiBar, SingleBar } from 'cli-progress';
import { saveCounterexample } from '../internal/counterexamples.js';
import { DEFAULT_RUNS, defaultCorpus } from '../internal/defaults.js';
import { campaignShape, type DriverTarget, findDrivers, parseShapeOption, shapeOrigin, summaryLine } from '../internal/drivers.js';
import { formatCampaign, formatMs, table } from '../internal/format.js';
import { defaultJobs, InOrder, inSlots } from '../internal/in-order.js';
import { prepareFolder, prepareOutput } from '../internal/output.js';
import { ProgressLines, progressIntervalMs } from '../internal/progress.js';
import { type CampaignIdentity, fuzzJson, type NotLoaded } from '../internal/result-json.js';
import { loaderFor, runWatchedJob, watchedFailure, watchOptions } from '../internal/runtime.js';
import { formatShard, parseShard } from '../internal/shard.js';
import { Interrupted } from '../internal/signals.js';
import { writeCampaignTimeline } from '../internal/timeline.js';
import { typecheck } from '../internal/typecheck.js';
import { intOption, UsageError, warnOverCores } from '../internal/usage.js';

/** Options of `hmmlab fuzz`. */
export interface FuzzCommandOptions {
  /** `--runs`: runs per driver. */
  runs?: string;
  /** `--time`: seconds after which a campaign stops early. */
  time?: string;
  /** `--seed`: the campaign seed. */
  seed?: string;
  /** `--strategy`: `pct`, `random` or `exhaustive`. */
  strategy?: string;
  /** `--profile`: fuzz this kernel API profile only. */
  profile?: string;
  /** `--workers`: number of watched worker threads. */
  workers?: string;
  /** `--jobs`: drivers fuzzed at once. */
  jobs?: string;
  /** `--json`: print the results as JSON. */
  json?: boolean;
  /** `--no-typecheck` sets it false: skip type-checking the driver. */
  typecheck?: boolean;
  /** `--require-window`: race windows every campaign must reach. */
  requireWindow?: string[];
  /** Write the counterexample's HTML timeline to this file. */
  html?: string;
  /** Seconds driver code may keep the thread without returning control. */
  hangTimeout?: string;
  /** Heap limit of the worker that runs driver code, in MB. */
  maxHeap?: string;
  /** No progress bar (terminal) or progress lines (otherwise) on stderr. */
  quiet?: boolean;
  /** Corpus folder; false with --no-corpus. */
  corpus?: string | false;
  /** False with --no-feedback. */
  feedback?: boolean;
  /** `i/n`: run only the runs of shard i of n (numbered from 1). */
  shard?: string;
  /** Checkpoint file: written after each epoch, resumed from when it holds this campaign. */
  checkpoint?: string;
  /** `--shape`: scenario-shape fields (a JSON object, or a file holding one) over each driver's own. */
  shape?: string;
}

/**
 * The corpus base folder: --corpus, else $HMMLAB_CORPUS (`off` for none), else .hmmlab/corpus;
 * null with --no-corpus.
 */
function corpusBase(o: FuzzCommandOptions): string | null {
  if (o.corpus === false) return null;
  if (o.corpus !== undefined) {
    if (o.corpus === '') throw new UsageError('--corpus: expected a folder');
    return o.corpus;
  }
  return defaultCorpus();
}

/** One driver's outcome. */
interface Outcome {
  target: DriverTarget;
  result: CampaignResult;
  /** pass / fail for drivers without expectations; caught / missed / wrong-rule for drivers with. */
  status: 'pass' | 'fail' | 'caught' | 'missed' | 'wrong-rule';
  /** What makes the campaign the one it is (what `hmmlab merge` compares across shards). */
  campaign: CampaignIdentity;
  /** The shard this campaign ran, or null. */
  shard: Shard | null;
  /** Where the counterexample was saved for `hmmlab test --corpus`, or null. */
  saved: string | null;
}

function judge(target: DriverTarget, r: CampaignResult): Outcome['status'] {
  const found = r.failure?.violation.rule;
  if (target.expected === null) return found === undefined && r.verdict === 'pass' ? 'pass' : 'fail';
  if (found === undefined) return 'missed';
  return target.expected.rules.includes(found) ? 'caught' : 'wrong-rule';
}

/** One line per finished driver of a multi-driver campaign, printed as it finishes. */
function progressLine(x: Outcome): string {
  const f = x.result.failure;
  const found =
    f === null ? 'no violation' : `${f.violation.rule} in run ${f.runIndex}; replay: hmmlab replay ${x.target.label} ${f.token}`;
  return `${x.status.padEnd(10)} ${x.target.label} (${x.result.runs} runs): ${found}`;
}

/** A campaign SIGINT cut short: its driver, and the runs it had done. */
interface CutShort {
  label: string;
  runs: number;
}

/**
 * What was left undone: `a stopped after 12 run(s) without a result`, `a stopped after 12 run(s)
 * and b after 40 without a result`, `3 driver(s) not started`.
 */
function undoneText(cut: readonly CutShort[], notStarted: number): string {
  const parts: string[] = [];
  const [first, ...rest] = cut;
  if (first !== undefined) {
    const others = rest.map((c) => ` and ${c.label} after ${c.runs}`).join('');
    parts.push(`${first.label} stopped after ${first.runs} run(s)${others} without a result`);
  }
  if (notStarted > 0) parts.push(`${notStarted} driver(s) not started`);
  return parts.join(', ');
}

/**
 * What an interrupted campaign prints: the drivers finished so far, the ones cut short (one,
 * unless several drivers were fuzzed at once), and how many were not started. Exit 130.
 */
function printInterrupted(
  outcomes: readonly Outcome[],
  undone: { cut: readonly CutShort[]; notStarted: number },
  json: boolean,
  notLoaded: readonly NotLoaded[],
): number {
  const text = undoneText(undone.cut, undone.notStarted);
  if (json) {
    process.stdout.write(fuzzJson(outcomes, true, notLoaded));
    process.stderr.write(`hmmlab: interrupted: ${text === '' ? `${outcomes.length} driver(s) done` : text}\n`);
  } else {
    for (const x of outcomes.filter((y) => y.result.failure !== null)) {
      process.stdout.write(`\n${x.status.toUpperCase()}: ${x.target.label}\n${formatCampaign(x.result, x.target.label)}\n`);
    }
    process.stdout.write(`\ninterrupted: ${outcomes.length} driver(s) done${text === '' ? '' : `, ${text}`}\n`);
  }
  return INTERRUPTED_EXIT;
}

// The module of `timelineJob`, which writes a counterexample's timeline in a watched worker.
const TIMELINE_MODULE = new URL(
  import.meta.url.endsWith('.ts') ? '../internal/command-job.ts' : '../internal/command-job.js',
  import.meta.url,
).href;

/** Why `files` cannot run: their first type error, or what stopped the check; null when they type-check. */
function typeFailure(files: readonly string[]): Error | null {
  let errors: string[];
  try {
    errors = typecheck(files);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
  if (errors.length === 0) return null;
  return new UsageError(`driver does not type-check: ${errors[0]}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`);
}

/** Exit status of an interrupted command. */
const INTERRUPTED_EXIT = 130;

/** Runs the command; returns the exit code. `signal` aborts it (SIGINT): what was found so far is printed. */
export async function fuzzCommand(paths: string[], o: FuzzCommandOptions, signal?: AbortSignal): Promise<number> {
  const runs = intOption('runs', o.runs, 1) ?? DEFAULT_RUNS;
  const time = intOption('time', o.time, 1);
  const seed = intOption('seed', o.seed, 0, MAX_SEED) ?? 1;
  const workers = intOption('workers', o.workers, 1) ?? 1;
  warnOverCores(workers);
  const jobsOption = intOption('jobs', o.jobs, 1);
  const shard = o.shard === undefined ? undefined : parseShard(o.shard);
  const watch = watchOptions(o.hangTimeout, o.maxHeap);
  const strategy = (o.strategy ?? 'pct') as StrategyName;
  if (!STRATEGIES.includes(strategy)) throw new UsageError(`--strategy ${o.strategy}: expected one of ${STRATEGIES.join(', ')}`);
  if (o.profile !== undefined && !PROFILE_NAMES.includes(o.profile as ProfileName)) {
    throw new UsageError(`--profile ${o.profile}: expected one of ${PROFILE_NAMES.join(', ')}`);
  }
  for (const w of o.requireWindow ?? []) {
    if (!(WINDOWS as readonly string[]).includes(w)) throw new UsageError(`--require-window ${w}: expected one of ${WINDOWS.join(', ')}`);
  }
  const shapeOption = o.shape === undefined ? undefined : parseShapeOption(o.shape);
  if (o.html !== undefined) prepareOutput('--html', o.html);
  if (o.checkpoint !== undefined) prepareOutput('--checkpoint', o.checkpoint);
  const corpus = corpusBase(o);
  // Made now rather than when the campaign ends and writes to it.
  if (corpus !== null) {
    const flag = o.corpus !== undefined ? '--corpus' : process.env.HMMLAB_CORPUS !== undefined ? '$HMMLAB_CORPUS' : 'corpus folder';
    prepareFolder(flag, corpus, '; --no-corpus fuzzes without one');
  }
  const targets = findDrivers(paths);
  if (o.checkpoint !== undefined && targets.length > 1) {
    throw new UsageError(`--checkpoint: one driver at a time (${targets.length} found); give each driver its own checkpoint file`);
  }
  const cores = availableParallelism();
  const jobs = jobsOption ?? defaultJobs(targets.length, workers, cores);
  // Beyond the cores, the campaigns share them: each is slower, and the command no faster.
  if (jobsOption !== undefined && workers <= cores && Math.min(jobs, targets.length) * workers > cores) {
    const what = workers > 1 ? `--jobs ${jobs} with --workers ${workers}` : `--jobs ${jobs}`;
    process.stderr.write(
      `hmmlab: warning: ${what} on a machine with ${cores} core(s): campaigns beyond the cores share them, which makes each slower and the command no faster\n`,
    );
  }
  // The drivers are type-checked once the first campaign has started: its worker process starts,
  // loads the driver and probes it on another core meanwhile (after an edit, the check takes about
  // 0.6 s, as long as that start). Nothing of the campaign is shown before the check passes; a
  // driver that does not type-check stops it, and only the type error is reported. The other
  // campaigns start after the check.
  let unchecked = o.typecheck !== false;
  // By driver, in the drivers' order: what the campaigns found, and of several drivers, those that
  // did not load or probe (the others are fuzzed and reported).
  const found: (Outcome | undefined)[] = [];
  const failedToLoad: (NotLoaded | undefined)[] = [];
  const tty = process.stderr.isTTY === true && o.json !== true && o.quiet !== true;
  // Without a terminal (CI), a line every few seconds instead of a bar.
  const lines = process.stderr.isTTY !== true && o.quiet !== true;
  const intervalMs = progressIntervalMs(process.env.HMMLAB_PROGRESS_INTERVAL);
  const bars = tty && jobs > 1 && targets.length > 1 ? new MultiBar({ hideCursor: true, clearOnComplete: true }) : null;
  // By driver: the campaigns SIGINT cut short, with the runs each had done.
  const cutShort: (CutShort | undefined)[] = [];
  // Stops the campaigns: SIGINT, the drivers' type check failing, or another campaign failing.
  const typeError = new AbortController();
  const halt = new AbortController();
  const stop = AbortSignal.any(signal === undefined ? [typeError.signal, halt.signal] : [signal, typeError.signal, halt.signal]);
  const order = new InOrder(targets.length, (stream, text) => process[stream].write(text));
  // The campaigns' hosts, kept from one driver's campaign to the next: V8 compiles hmmlab's code
  // once per host rather than once per driver.
  const hosts = new HostPool();
  // Every driver's modules at once: the same loader options for all, so that the pool's hosts serve every campaign.
  const loading = await loaderFor(targets.map((t) => t.file));
  const fuzzOne = async (i: number): Promise<void> => {
    const target = targets[i] as DriverTarget;
    let bar: SingleBar | null = null;
    let printer: ProgressLines | null = null;
    let done = 0;
    const shape = campaignShape(target, shapeOption);
    const common = {
      runs,
      seed,
      strategy,
      workers,
      ...watch,
      ...loading,
      ...(time !== undefined ? { timeMs: time * 1000 } : {}),
      ...(o.profile !== undefined ? { profiles: [o.profile as ProfileName] } : {}),
      ...(o.requireWindow !== undefined ? { requireWindows: o.requireWindow } : {}),
      ...(corpus !== null ? { corpusDir: corpus } : {}),
      ...(o.feedback === false ? { feedback: false } : {}),
      ...(shard !== undefined ? { shard } : {}),
      ...(o.checkpoint !== undefined ? { checkpoint: o.checkpoint } : {}),
      onWarning: (line: string) => order.write(i, 'stderr', `hmmlab: warning: ${line}\n`),
      // A known bug's expected.json may say how a campaign reaches it (a kernel what-if, an op);
      // --shape narrows or widens every driver's scenarios.
      ...(shape !== undefined ? { shape } : {}),
      signal: stop,
      hosts,
      onReady: (name: string) => {
        if (unchecked) return;
        if (lines) {
          const write = (line: string) => process.stderr.write(line);
          printer = new ProgressLines(target.label, { intervalMs, now: () => performance.now(), write });
        }
        if (!tty) return;
        const total = shardRuns(runs, shard);
        if (bars !== null) {
          bar = bars.create(total, 0, {}, { format: `  ${name.padEnd(24)} [{bar}] {value}/{total} runs` });
          return;
        }
        bar = new SingleBar({ format: `  ${name.padEnd(24)} [{bar}] {value}/{total} runs`, hideCursor: true, clearOnComplete: true });
        bar.start(total, 0);
      },
      onProgress: (n: number, total: number, reached: { cells: number; violations: number }) => {
        done = n;
        if (unchecked) return;
        (bar as SingleBar | null)?.update(n);
        (printer as ProgressLines | null)?.update(n, total, reached.cells, reached.violations);
      },
    };
    let result: CampaignResult;
    try {
      const campaign = runParallelCampaign(target.file, common);
      if (unchecked) {
        // Synchronous: no note of the campaign is handled before it returns.
        const failure = typeFailure(targets.map((t) => t.file));
        if (failure !== null) {
          typeError.abort(failure);
          await campaign.catch(() => {});
          throw failure;
        }
        unchecked = false;
      }
      result = await campaign;
    } catch (e) {
      if (typeError.signal.aborted) throw typeError.signal.reason;
      // Another driver's campaign failed: that failure is the command's.
      if (halt.signal.aborted) {
        order.finish(i);
        return;
      }
      if (signal?.aborted === true && e instanceof Interrupted) {
        cutShort[i] = { label: target.label, runs: done };
        order.finish(i);
        return;
      }
      const failure = e instanceof CheckpointError ? new UsageError(e.message) : watchedFailure(e, target.label);
      if (failure instanceof UsageError && !(e instanceof CheckpointError) && targets.length > 1) {
        failedToLoad[i] = { file: target.label, error: failure.message };
        order.write(i, 'stderr', `hmmlab: ${failure.message}\n`);
        order.finish(i);
        return;
      }
      halt.abort(failure);
      throw failure;
    } finally {
      if (bars !== null && bar !== null) bars.remove(bar);
      else (bar as SingleBar | null)?.stop();
    }
    const campaign: CampaignIdentity = {
      runs,
      seed,
      strategy,
      profiles: o.profile !== undefined ? [o.profile] : null,
      feedback: o.feedback !== false && shard === undefined,
      shape: shape ?? null,
      requireWindows: o.requireWindow ?? null,
      corpus: result.store !== undefined && result.store.loaded > 0 ? result.store.digest : null,
    };
    const status = judge(target, result);
    // A violation of a driver without a known bug: keep its token for `hmmlab test --corpus`.
    const f = result.failure;
    const saved =
      status === 'fail' && f !== null && result.store !== undefined
        ? saveCounterexample(result.store.dir, target.file, {
            driver: result.driver,
            rule: f.violation.rule,
            seed,
            runIndex: f.runIndex,
            token: f.token,
          })
        : null;
    const outcome: Outcome = { target, result, status, campaign, shard: shard ?? null, saved };
    found[i] = outcome;
    // With --json, stdout holds only the JSON document: the early findings go to stderr.
    if (targets.length > 1) order.write(i, o.json === true ? 'stderr' : 'stdout', `${progressLine(outcome)}\n`);
    order.finish(i);
  };
  try {
    await inSlots(targets.length, jobs, fuzzOne, () => stop.aborted);
  } finally {
    bars?.stop();
    await hosts.close();
  }
  const outcomes = found.filter((x): x is Outcome => x !== undefined);
  const notLoaded = failedToLoad.filter((x): x is NotLoaded => x !== undefined);
  const cut = cutShort.filter((x): x is CutShort => x !== undefined);
  if (signal?.aborted === true) {
    const notStarted = targets.length - outcomes.length - notLoaded.length - cut.length;
    const code = printInterrupted(outcomes, { cut, notStarted }, o.json === true, notLoaded);
    if (o.checkpoint !== undefined && existsSync(o.checkpoint)) {
      process.stderr.write(`hmmlab: the campaign's last checkpoint is in ${o.checkpoint}: run the same command to resume it\n`);
    }
    return code;
  }
  const ok = outcomes.every((x) => x.status === 'pass' || x.status === 'caught');
  // A campaign --time stopped before its runs: the document says so (`interrupted`), as the text does.
  const timedOut = time !== undefined && shard === undefined && outcomes.some((x) => x.result.failure === null && x.result.runs < runs);
  if (o.json === true) {
    process.stdout.write(fuzzJson(outcomes, timedOut, notLoaded));
  } else if (outcomes.length === 1) {
    const x = outcomes[0] as Outcome;
    process.stdout.write(`${formatCampaign(x.result, x.target.label)}\n`);
    if (time !== undefined && shard === undefined && x.result.failure === null && x.result.runs < runs) {
      process.stdout.write(`limit     --time ${time} stopped the campaign after ${x.result.runs} of the ${runs} runs asked\n`);
    }
    if (shard !== undefined) process.stdout.write(`${formatShard(shard, runs)}\n`);
    if (x.result.resumed !== undefined) {
      process.stdout.write(`resumed   from ${x.result.resumed.from}, where ${x.result.resumed.runs} runs were done\n`);
    }
    if (x.saved !== null) process.stdout.write(`saved     ${x.saved} (hmmlab test --corpus ${corpus} replays it)\n`);
    if (x.target.expected !== null) process.stdout.write(`expected  ${x.target.expected.rules.join(' or ')}: ${x.status}\n`);
    const shape = x.campaign.shape;
    if (shape !== null) process.stdout.write(`shape     ${JSON.stringify(shape)} (${shapeOrigin(x.target, shapeOption)})\n`);
  } else {
    const rows = outcomes.map((x) => [
      x.target.label.replace(/\/driver\.(m?[jt]s)$/, ''),
      x.target.expected === null ? 'no violation' : x.target.expected.rules.join(' | '),
      x.status,
      String(x.result.runs),
      formatMs(x.result.elapsedMs),
      x.result.failure?.violation.rule ?? '-',
    ]);
    process.stdout.write(`${table(['driver', 'expected', 'verdict', 'runs', 'time', 'rule found'], rows)}\n`);
    const bad = outcomes.filter((x) => x.status !== 'pass' && x.status !== 'caught');
    for (const x of bad) {
      process.stdout.write(`\n${x.status.toUpperCase()}: ${x.target.label}\n${formatCampaign(x.result, x.target.label)}\n`);
      if (x.saved !== null) process.stdout.write(`saved     ${x.saved} (hmmlab test --corpus ${corpus} replays it)\n`);
    }
    for (const n of notLoaded) process.stdout.write(`\nNOT LOADED: ${n.file}\n${n.error}\n`);
    const loadLine = notLoaded.length > 0 ? `; ${notLoaded.length} driver(s) did not load` : '';
    process.stdout.write(
      `\n${summaryLine(outcomes)}: ${ok ? 'all drivers as expected' : `${bad.length} driver(s) not as expected`}${loadLine}\n`,
    );
    if (shard !== undefined) process.stdout.write(`${formatShard(shard, runs)}\n`);
  }
  const html = o.html;
  if (html !== undefined) {
    await writeCampaignTimeline(outcomes, html, async (file, token) => {
      await runWatchedJob(
        { module: TIMELINE_MODULE, fn: 'timelineJob', args: [file, token, html] },
        { ...watch, ...(await loaderFor([file])), runs: 1 },
        signal,
      );
    });
  }
  // A driver that does not load is a broken set-up: exit 2, once the others' results are out.
  return notLoaded.length > 0 ? 2 : ok ? 0 : 1;
}
