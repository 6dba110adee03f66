/**
 * How the CLI runs driver code: in watched worker threads (the watchdog of @hmmlab/fuzz) that load
 * a TypeScript driver module with tsx; how their failures become exit statuses; and the
 * interruption of a command by SIGINT or SIGTERM.
 */
import { existsSync, statSync } from 'node:fs';
import { formatViolation } from '@hmmlab/assertions';
import {
  type HostPool,
  type ParallelOptions,
  stallViolation,
  UNFINISHED_FINGERPRINT,
  WatchedWorker,
  type WatchOptions,
  WorkerJobError,
  WorkerStallError,
} from '@hmmlab/fuzz';
import { driverIn, findDrivers, replayArguments } from './drivers.js';
import { formatScenario } from './format.js';
import { type Precompiled, precompile } from './precompile.js';
import { stalledReplayJson } from './result-json.js';
import { DEFAULT_HANG_TIMEOUT_S, DEFAULT_MAX_HEAP_MB, Interrupted } from './signals.js';
import { tokenData } from './timeline.js';
import { UsageError } from './usage.js';

/** Exit status of a replay that does not end as its token records. */
const EXIT_DIVERGED = 3;

// A worker registers tsx before it imports anything when the driver module is TypeScript, or when
// the CLI itself runs from its TypeScript sources (bin/hmmlab.js): a JavaScript driver under the
// built CLI never loads it.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const JAVASCRIPT = /\.[mc]?js$/;

/**
 * The worker `loader` options for driver modules `paths` (files, or folders holding one): none
 * when every one of them is JavaScript; else the TypeScript loader, with the modules compiled
 * ahead (precompile.ts) when they all can be, or tsx. The same modules give the same options, so
 * that a host pool serves the campaigns of one command with the same hosts: a command that runs
 * several drivers passes them all at once. Not `ahead`: tsx, for a worker that loads other
 * copies of the modules than `paths` (mutants).
 */
export async function loaderFor(
  paths: readonly string[],
  { ahead = true }: { ahead?: boolean } = {},
): Promise<{ loader?: string; loaderData?: Precompiled }> {
  const files = paths.map((p) => (existsSync(p) && statSync(p).isDirectory() ? driverIn(p) : p));
  if (FROM_SOURCE) return { loader: import.meta.resolve('tsx/esm/api') };
  if (files.every((f) => f !== null && JAVASCRIPT.test(f))) return {};
  const loader = new URL('./typescript-loader.js', import.meta.url).href;
  const typescript = files.filter((f): f is string => f !== null && !JAVASCRIPT.test(f));
  const compiled = ahead && typescript.length === files.length ? await precompile(typescript) : null;
  return compiled === null ? { loader } : { loader, loaderData: compiled };
}

/** The watchdog settings of `--hang-timeout <seconds>` and `--max-heap <mb>`. */
export function watchOptions(
  hangTimeout: string | undefined,
  maxHeap: string | undefined,
): Required<Pick<ParallelOptions, 'hangTimeoutMs' | 'heapMb'>> {
  const seconds = hangTimeout === undefined ? DEFAULT_HANG_TIMEOUT_S : Number(hangTimeout);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--hang-timeout ${hangTimeout}: expected a number of seconds > 0`);
  const mb = maxHeap === undefined ? DEFAULT_MAX_HEAP_MB : Number(maxHeap);
  if (!Number.isInteger(mb) || mb < 16) throw new UsageError(`--max-heap ${maxHeap}: expected an integer number of MB ≥ 16`);
  return { hangTimeoutMs: Math.round(seconds * 1000), heapMb: mb };
}

/**
 * What a failure of a watched job means for the user: a driver that does not load or probe, or
 * that stops responding before any run, is a usage error (exit 2); anything else is returned as
 * it is (an internal error, exit 3).
 */
export function watchedFailure(e: unknown, label: string): unknown {
  if (e instanceof WorkerJobError && (e.errorName === 'DriverLoadError' || e.errorName === 'UsageError')) return new UsageError(e.message);
  // A campaign's options that do not fit its driver (a shape that asks more devices than it binds).
  if (e instanceof WorkerJobError && e.errorName === 'CampaignOptionsError') return new UsageError(`${label}: ${e.message}`);
  // A driver run on a kernel profile that lacks an API it calls: the driver does not fit the command's --profile.
  if (e instanceof WorkerJobError && e.errorName === 'ProfileMismatchError') return new UsageError(`${label}: ${e.message}`);
  if (e instanceof WorkerStallError && e.stall.phase === 'loading')
    return new UsageError(`${label}: ${e.message} while its modules loaded`);
  if (e instanceof WorkerStallError && e.stall.phase === 'probing') return new UsageError(`${label}: ${e.message} in its probe`);
  // No driver code runs while scenarios are drawn: the campaign's shape asks for more than fits.
  if (e instanceof WorkerStallError && e.stall.phase === 'drawing') {
    return new UsageError(
      `${label}: ${e.message}: the campaign's shape (--shape, or its expected.json) makes scenarios too large; draw smaller ones or raise --max-heap`,
    );
  }
  return e;
}

/** Arguments of a command run in a watched worker. */
export interface WatchedCommand {
  readonly module: string;
  readonly fn: string;
  readonly args: readonly unknown[];
}

/**
 * Runs `fn(...args)` of `module` in a watched worker and returns its exit status and what it
 * printed. Rejects with a `WorkerStallError` when the watchdog stops it, with {@link Interrupted}
 * when `signal` aborts it. With `hosts`, the worker's host comes from them, and goes back to them
 * when the job returned (a command that runs many jobs starts one host, not one a job).
 */
export async function runWatchedJob(
  c: WatchedCommand,
  watch: WatchOptions,
  signal: AbortSignal | undefined,
  hosts?: HostPool,
): Promise<{ exitCode: number; stdout: string }> {
  const w = hosts?.take(watch) ?? new WatchedWorker(watch);
  const abort = (): void => void w.stop(signal?.reason instanceof Error ? signal.reason : new Interrupted('a signal'));
  signal?.addEventListener('abort', abort, { once: true });
  let returned = false;
  try {
    const r = await w.call<{ exitCode: number; stdout: string }>(COMMAND_JOB, 'commandJob', c);
    returned = true;
    return r;
  } finally {
    signal?.removeEventListener('abort', abort);
    // A job that threw or was stopped: its host is not used again.
    await (hosts !== undefined && returned ? hosts.give(w, watch) : w.stop());
  }
}

/**
 * Runs a command function (`replayCommand`, `reportCommand`) in a watched worker and prints its
 * output; returns its exit status. A replay that stops returning control is reported as
 * `callback-hung` (or, out of heap, `callback-threw`) with the token's scenario: exit 1 when the
 * token records that stall at that step, else exit 3 (a divergence).
 */
export async function runWatchedCommand(
  c: WatchedCommand,
  token: string,
  opts: { hangTimeout?: string; maxHeap?: string; json?: boolean },
  label: string,
  signal: AbortSignal,
): Promise<number> {
  // What the command line names is checked here, before a host process starts for the driver.
  replayArguments(label, token);
  try {
    const watch = watchOptions(opts.hangTimeout, opts.maxHeap);
    // One run: the replayed one (WatchOptions.runs).
    const r = await runWatchedJob(c, { ...watch, ...(await loaderFor([label])), runs: 1 }, signal);
    process.stdout.write(r.stdout);
    return r.exitCode;
  } catch (e) {
    // A driver that does not load or probe is a usage error, whatever the token says.
    if (!(e instanceof WorkerStallError) || e.stall.phase !== 'running') throw watchedFailure(e, label);
    const v = stallViolation(e.stall);
    const data = tokenData(token);
    const want = data.expected;
    // A stopped run is replayed exactly when it stops the same way at the recorded step.
    const divergence =
      want.rule === v.rule && want.step === v.step && want.fingerprint === UNFINISHED_FINGERPRINT
        ? null
        : `the run no longer reaches the recorded ${want.rule} at step ${want.step}: it ends in ${v.rule} at step ${v.step}`;
    if (opts.json === true) {
      const file = findDrivers([label])[0]?.label ?? label;
      const command = c.fn === 'reportCommand' ? 'report' : 'replay';
      process.stdout.write(stalledReplayJson(command, { file, token: token.trim(), data, violation: v, divergence }));
    } else {
      process.stdout.write(
        `scenario:\n${formatScenario(data.scenario)
          .map((l) => `  ${l}`)
          .join('\n')}\n\n`,
      );
      process.stdout.write(`the run did not finish, so there is no trace to show\n\n${formatViolation(v)}\n`);
      if (divergence === null) process.stdout.write(`\nreplayed as recorded: ${want.rule} at step ${want.step}\n`);
    }
    if (divergence === null) return 1;
    process.stderr.write(`hmmlab: replay diverged: ${divergence}\n`);
    return EXIT_DIVERGED;
  }
}

const COMMAND_JOB = new URL(import.meta.url.endsWith('.ts') ? './command-job.ts' : './command-job.js', import.meta.url).href;
