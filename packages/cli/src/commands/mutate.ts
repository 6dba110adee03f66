/**
 * `hmmlab mutate <driver>`: mutation testing of a driver. Each mutant (one flush-contract bug
 * written into one of the driver's files, see @hmmlab/analyze) is fuzzed with the same campaign
 * as `hmmlab fuzz`, in watched worker threads, from a copy of the driver's files: a mutant the
 * oracle reports is killed, one it does not is a survivor, with its diff. Exit 0 with the score;
 * 1 when the score is below `--min-score`; 2 for bad usage or a driver that fails unmutated;
 * 130 when interrupted.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { AnalyzeError, type Equivalent, type Mutant, type MutantSet, mutants, OPERATOR_NAMES, readEquivalents } from '@hmmlab/analyze';
import { PROFILE_NAMES, type ProfileName } from '@hmmlab/core';
import { type CampaignResult, MAX_SEED, runParallelCampaign, WatchedWorker, WorkerStallError } from '@hmmlab/fuzz';
import { DEFAULT_RUNS } from '../internal/defaults.js';
import { campaignShape, findDrivers, parseShapeOption } from '../internal/drivers.js';
import { formatMs, table } from '../internal/format.js';
import { defaultJobs } from '../internal/in-order.js';
import type { MutantRun } from '../internal/mutant-job.js';
import { mutantTrees } from '../internal/mutant-tree.js';
import { loaderFor, watchedFailure, watchOptions } from '../internal/runtime.js';
import { Interrupted } from '../internal/signals.js';
import { intOption, UsageError, warnOverCores } from '../internal/usage.js';

// The module of `mutantJob`, which fuzzes one mutant in a watched worker.
const MUTANT_JOB = new URL(import.meta.url.endsWith('.ts') ? '../internal/mutant-job.ts' : '../internal/mutant-job.js', import.meta.url)
  .href;

/** Options of `hmmlab mutate`. */
export interface MutateCommandOptions {
  runs?: string;
  seed?: string;
  profile?: string;
  workers?: string;
  json?: boolean;
  minScore?: string;
  tests?: boolean;
  operator?: string[];
  hangTimeout?: string;
  maxHeap?: string;
  /** `--shape`: scenario-shape fields for every campaign (a JSON object, or a file holding one), as `hmmlab fuzz --shape`. */
  shape?: string;
}

/** What became of one mutant. */
type Status = 'killed' | 'timed-out' | 'survived' | 'equivalent' | 'invalid';

/** One mutant's outcome. */
interface Outcome {
  readonly mutant: Mutant;
  readonly status: Status;
  /** Killed: the oracle rule (or `tests`); timed out: `callback-hung`. */
  readonly rule?: string;
  readonly run?: number;
  readonly token?: string;
  /** Invalid: why (a type error, a load error). Equivalent: the reason recorded for it. */
  readonly reason?: string;
  readonly ms: number;
}

/** Killed (or timed out) over the mutants that count: all but the invalid and the equivalent ones. */
function score(outcomes: readonly Outcome[]): { detected: number; counted: number; percent: number } {
  const detected = outcomes.filter((x) => x.status === 'killed' || x.status === 'timed-out').length;
  const counted = outcomes.filter((x) => x.status !== 'invalid' && x.status !== 'equivalent').length;
  return { detected, counted, percent: counted === 0 ? 100 : (100 * detected) / counted };
}

/**
 * The vitest config of a tree: hmmlab's packages from their sources, as the repository's tests
 * load them; tests bound their work by runs, so the clock only stops a hung test.
 */
const VITEST_CONFIG = `const conditions = ['@hmmlab/source', 'import', 'module', 'node', 'default'];
export default {
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@hmmlab/source'] } },
  test: { testTimeout: 600000, hookTimeout: 600000 },
};
`;

/** Runs the driver's vitest tests in `tree`; true when they fail. */
function testsFail(vitest: string, file: string, signal: AbortSignal | undefined): Promise<boolean> {
  const config = join(dirname(file), 'vitest.mutate.config.mjs');
  if (!existsSync(config)) writeFileSync(config, VITEST_CONFIG);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, vitest, 'run', file, '--root', dirname(file), '--config', config], {
      stdio: 'ignore',
      ...(signal !== undefined ? { signal } : {}),
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code !== 0));
  });
}

function vitestOf(driver: string): string {
  try {
    return createRequire(driver)
      .resolve('vitest/package.json')
      .replace(/package\.json$/, 'vitest.mjs');
  } catch {
    throw new UsageError(`--tests: vitest cannot be resolved from ${driver}; install it where the driver's tests run`);
  }
}

/** Runs the command; returns the exit code. `signal` aborts it (SIGINT): what was found so far is printed. */
export async function mutateCommand(path: string, o: MutateCommandOptions, signal?: AbortSignal): Promise<number> {
  const runs = intOption('runs', o.runs, 1) ?? DEFAULT_RUNS;
  const seed = intOption('seed', o.seed, 0, MAX_SEED) ?? 1;
  const workersOption = intOption('workers', o.workers, 1);
  if (workersOption !== undefined) warnOverCores(workersOption);
  const minScore = o.minScore === undefined ? undefined : Number(o.minScore);
  if (minScore !== undefined && !(Number.isFinite(minScore) && minScore >= 0 && minScore <= 100))
    throw new UsageError(`--min-score ${o.minScore}: expected a percentage between 0 and 100`);
  if (o.profile !== undefined && !PROFILE_NAMES.includes(o.profile as ProfileName))
    throw new UsageError(`--profile ${o.profile}: expected one of ${PROFILE_NAMES.join(', ')}`);
  for (const op of o.operator ?? [])
    if (!OPERATOR_NAMES.includes(op)) throw new UsageError(`--operator ${op}: expected one of ${OPERATOR_NAMES.join(', ')}`);
  const shapeOption = o.shape === undefined ? undefined : parseShapeOption(o.shape);
  const limits = watchOptions(o.hangTimeout, o.maxHeap);
  const targets = findDrivers([path]);
  if (targets.length !== 1) throw new UsageError(`${path}: holds ${targets.length} drivers; mutate one driver at a time`);
  const target = targets[0] as (typeof targets)[number];
  // Each mutant is a copy of the driver's files, loaded in the same worker: tsx compiles them as they come.
  const watch = { ...limits, ...(await loaderFor([target.file], { ahead: false })) };
  let set: MutantSet;
  let equivalents: Map<string, string>;
  try {
    set = mutants(target.file, o.operator !== undefined ? { operators: o.operator } : {});
    equivalents = new Map(readEquivalents(target.file).map((e: Equivalent) => [e.id, e.reason]));
  } catch (e) {
    throw e instanceof AnalyzeError ? new UsageError(e.message) : e;
  }
  const ids = new Set(set.mutants.map((m) => m.id));
  for (const id of equivalents.keys())
    if (!ids.has(id) && o.operator === undefined)
      process.stderr.write(`hmmlab: mutation-equivalents.json lists ${id}, which is no longer a mutant of ${target.label}\n`);
  const test = join(dirname(target.file), 'driver.test.ts');
  const vitest = o.tests === true ? vitestOf(target.file) : null;
  if (vitest !== null && !existsSync(test)) throw new UsageError(`--tests: no driver.test.ts beside ${target.label}`);

  const shape = campaignShape(target, shapeOption);
  const options = {
    runs,
    seed,
    ...(o.profile !== undefined ? { profiles: [o.profile as ProfileName] } : {}),
    ...(shape !== undefined ? { shape } : {}),
  };
  // By default, as many mutants at once as the cores hold (at most 8).
  const workers = workersOption ?? defaultJobs(set.mutants.length, 1, availableParallelism());
  const t0 = performance.now();
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  log(
    `mutate ${target.label}: ${set.mutants.length} mutants in ${set.files.length} file(s), ${runs} runs each (seed ${seed}), ${workers} at once`,
  );
  let baseline: CampaignResult;
  try {
    baseline = await runParallelCampaign(target.file, { ...options, workers: 1, ...watch, ...(signal !== undefined ? { signal } : {}) });
  } catch (e) {
    throw watchedFailure(e, target.label);
  }
  if (baseline.failure !== null) {
    const f = baseline.failure;
    throw new UsageError(
      `${target.label} fails unmutated (${f.violation.rule} in run ${f.runIndex}; replay: hmmlab replay ${target.label} ${f.token}); mutation testing needs a passing driver`,
    );
  }

  // The tests' own relative imports (another driver, shared helpers) are copied with them.
  const testFiles = vitest !== null ? mutants(test, { operators: [] }).files : [];
  const forest = mutantTrees([...new Set([...set.files, ...testFiles])]);
  if (vitest !== null) {
    // The tests must pass on an unmutated copy, or every mutant would look killed by them.
    const copy = forest.make(-1, target.file, readFileSync(target.file, 'utf8'), target.file);
    const failed = await testsFail(vitest, copy.slice(0, copy.length - target.file.length) + test, signal);
    forest.remove(-1);
    if (failed) {
      forest.dispose();
      throw new UsageError(
        `--tests: ${relative(process.cwd(), test)} fails on an unmutated copy of the driver; run it with vitest and fix it first`,
      );
    }
  }
  const outcomes: (Outcome | undefined)[] = new Array(set.mutants.length);
  let next = 0;
  let done = 0;
  let interrupted = false;
  const live = new Set<WatchedWorker>();
  const stopAll = (): void => {
    for (const w of live) void w.stop(new Interrupted('a signal'));
  };
  signal?.addEventListener('abort', stopAll, { once: true });
  /** Fuzzes mutant `i` in `worker` (replaced when the watchdog stops it). */
  const runOne = async (i: number, slot: { worker: WatchedWorker | null }): Promise<Outcome> => {
    const m = set.mutants[i] as Mutant;
    const start = performance.now();
    const ms = (): number => performance.now() - start;
    const errors = set.typeErrors(m);
    if (errors.length > 0) return { mutant: m, status: 'invalid', reason: `does not type-check: ${errors[0]}`, ms: ms() };
    const file = forest.make(i, m.file, m.text, target.file);
    try {
      if (slot.worker === null) {
        slot.worker = new WatchedWorker(watch);
        live.add(slot.worker);
      }
      let r: MutantRun;
      try {
        r = await slot.worker.call<MutantRun>(MUTANT_JOB, 'mutantJob', { file, options });
      } catch (e) {
        live.delete(slot.worker);
        void slot.worker.stop();
        slot.worker = null;
        if (signal?.aborted === true) throw e;
        if (e instanceof WorkerStallError) {
          // Stopped while loading or probing the mutant: the driver does not load, as `hmmlab
          // fuzz` says of it (exit 2), rather than a run that caught the mutant.
          if (e.stall.phase !== 'running') {
            const what =
              e.stall.kind === 'hung'
                ? 'did not return control'
                : e.stall.kind === 'out-of-memory'
                  ? 'exhausted the heap'
                  : `aborted${e.stall.message === undefined ? '' : ` (${e.stall.message.split('\n')[0]})`}`;
            return { mutant: m, status: 'invalid', reason: `does not load: ${what} while ${e.stall.phase}`, ms: ms() };
          }
          const rule = e.stall.kind === 'hung' ? 'callback-hung' : 'callback-threw';
          const status: Status = e.stall.kind === 'hung' ? 'timed-out' : 'killed';
          return { mutant: m, status, rule, ...(e.stall.run >= 0 ? { run: e.stall.run } : {}), ms: ms() };
        }
        throw e;
      }
      if (r.kind === 'load-error') return { mutant: m, status: 'invalid', reason: `does not load: ${r.message.split('\n')[0]}`, ms: ms() };
      if (r.kind === 'fail') {
        const status: Status = r.rule === 'callback-hung' ? 'timed-out' : 'killed';
        return { mutant: m, status, rule: r.rule, run: r.run, token: r.token, ms: ms() };
      }
      if (vitest !== null && (await testsFail(vitest, file.slice(0, file.length - target.file.length) + test, signal)))
        return { mutant: m, status: 'killed', rule: 'tests', ms: ms() };
      const reason = equivalents.get(m.id);
      return reason !== undefined ? { mutant: m, status: 'equivalent', reason, ms: ms() } : { mutant: m, status: 'survived', ms: ms() };
    } finally {
      forest.remove(i);
    }
  };
  const slot = async (): Promise<void> => {
    const mine: { worker: WatchedWorker | null } = { worker: null };
    try {
      while (!interrupted && next < set.mutants.length) {
        const i = next++;
        try {
          const x = await runOne(i, mine);
          outcomes[i] = x;
          done++;
          const why = x.rule !== undefined ? ` (${x.rule}${x.run !== undefined ? `, run ${x.run}` : ''})` : '';
          log(`[${done}/${set.mutants.length}] ${x.status.padEnd(10)} ${x.mutant.id}${why} ${formatMs(x.ms)}`);
        } catch (e) {
          if (signal?.aborted === true || e instanceof Interrupted) {
            interrupted = true;
            return;
          }
          throw e;
        }
      }
    } finally {
      if (mine.worker !== null) {
        live.delete(mine.worker);
        await mine.worker.stop();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: workers }, () => slot()));
  } finally {
    signal?.removeEventListener('abort', stopAll);
    forest.dispose();
  }
  const finished = outcomes.filter((x): x is Outcome => x !== undefined);
  const elapsed = performance.now() - t0;
  for (const x of finished)
    if (x.status === 'killed' && equivalents.has(x.mutant.id))
      log(`hmmlab: ${x.mutant.id} is listed as equivalent in mutation-equivalents.json, but ${x.rule} killed it`);
  const s = score(finished);
  if (o.json === true) process.stdout.write(mutateJson(target.label, runs, seed, set.files, finished, s, elapsed, interrupted));
  else process.stdout.write(mutateText(target.label, runs, seed, finished, s, elapsed, interrupted));
  if (interrupted) return 130;
  return minScore !== undefined && s.percent < minScore ? 1 : 0;
}

const STATUSES: readonly Status[] = ['killed', 'timed-out', 'survived', 'equivalent', 'invalid'];

function mutateText(
  label: string,
  runs: number,
  seed: number,
  outcomes: readonly Outcome[],
  s: ReturnType<typeof score>,
  elapsed: number,
  interrupted: boolean,
): string {
  const ops = OPERATOR_NAMES.filter((op) => outcomes.some((x) => x.mutant.operator === op));
  const count = (xs: readonly Outcome[], st: Status): string => String(xs.filter((x) => x.status === st).length);
  const rows = ops.map((op) => {
    const xs = outcomes.filter((x) => x.mutant.operator === op);
    return [op, String(xs.length), ...STATUSES.map((st) => count(xs, st))];
  });
  rows.push(['total', String(outcomes.length), ...STATUSES.map((st) => count(outcomes, st))]);
  const out = [
    `driver    ${label}`,
    `campaign  ${runs} runs per mutant, seed ${seed}; ${formatMs(elapsed)}${interrupted ? ' (interrupted)' : ''}`,
    '',
    table(['operator', 'mutants', ...STATUSES], rows),
    '',
    `score     ${s.percent.toFixed(1)}% (${s.detected} killed or timed out of ${s.counted}; invalid and equivalent mutants not counted)`,
  ];
  const killed = outcomes.filter((x) => x.status === 'killed' || x.status === 'timed-out');
  if (killed.length > 0) {
    out.push('', 'killed:');
    for (const x of killed) out.push(`  ${x.mutant.id}: ${x.rule}${x.run !== undefined ? ` in run ${x.run}` : ''}`);
  }
  const eq = outcomes.filter((x) => x.status === 'equivalent');
  if (eq.length > 0) {
    out.push('', 'equivalent (mutation-equivalents.json):');
    for (const x of eq) out.push(`  ${x.mutant.id}: ${x.reason}`);
  }
  const inv = outcomes.filter((x) => x.status === 'invalid');
  if (inv.length > 0) {
    out.push('', 'invalid:');
    for (const x of inv) out.push(`  ${x.mutant.id}: ${x.reason}`);
  }
  for (const x of outcomes.filter((y) => y.status === 'survived'))
    out.push('', `SURVIVED ${x.mutant.id} (line ${x.mutant.line}): ${x.mutant.what}`, x.mutant.diff.trimEnd());
  return `${out.join('\n')}\n`;
}

function mutateJson(
  label: string,
  runs: number,
  seed: number,
  files: readonly string[],
  outcomes: readonly Outcome[],
  s: ReturnType<typeof score>,
  elapsed: number,
  interrupted: boolean,
): string {
  const counts = Object.fromEntries(STATUSES.map((st) => [st, outcomes.filter((x) => x.status === st).length]));
  return `${JSON.stringify(
    {
      command: 'mutate',
      driver: label,
      runs,
      seed,
      files,
      interrupted,
      elapsedMs: Math.round(elapsed),
      counts: { total: outcomes.length, ...counts },
      score: { percent: Number(s.percent.toFixed(2)), detected: s.detected, counted: s.counted },
      mutants: outcomes.map((x) => ({
        id: x.mutant.id,
        operator: x.mutant.operator,
        file: x.mutant.file,
        line: x.mutant.line,
        what: x.mutant.what,
        status: x.status,
        ...(x.rule !== undefined ? { rule: x.rule } : {}),
        ...(x.run !== undefined ? { run: x.run } : {}),
        ...(x.token !== undefined ? { token: x.token } : {}),
        ...(x.reason !== undefined ? { reason: x.reason } : {}),
        ...(x.status === 'survived' ? { diff: x.mutant.diff } : {}),
        ms: Math.round(x.ms),
      })),
    },
    null,
    2,
  )}\n`;
}
