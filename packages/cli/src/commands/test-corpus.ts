/**
 * `hmmlab test --corpus <dir>`: replays every counterexample `hmmlab fuzz` saved under `dir`, each
 * in a watched worker, and fails if one still breaks the flush contract, so a race that was fixed
 * stays fixed. A counterexample counts as reproduced when its token's run, replayed exactly,
 * breaks a rule; or, when the driver changed so that the exact replay diverges, when its scenario
 * run with the same scheduler choices (taken modulo the runnable tasks, then the lowest task)
 * still breaks one. Exit 0: none reproduces; 1: one does (or hangs); 2: a file or a driver that
 * cannot be read or loaded.
 */
import { HostPool, WorkerStallError } from '@hmmlab/fuzz';
import { findCounterexamples, readCounterexample } from '../internal/counterexamples.js';
import { loaderFor, runWatchedJob, watchedFailure, watchOptions } from '../internal/runtime.js';

/** The job's exit code of a counterexample that still breaks a rule. */
const REPRODUCED = 1;

// The module of `counterexampleJob`, which replays one counterexample in a watched worker.
const JOB_MODULE = new URL(import.meta.url.endsWith('.ts') ? '../internal/command-job.ts' : '../internal/command-job.js', import.meta.url)
  .href;

/** The driver module a counterexample file names (the file itself when unreadable: the job reports why). */
function driverModule(path: string): string {
  try {
    return readCounterexample(path).file;
  } catch {
    return path;
  }
}

/** Runs the command; returns the exit code. */
export async function testCorpusCommand(dir: string, o: { hangTimeout?: string; maxHeap?: string }, signal: AbortSignal): Promise<number> {
  const watch = watchOptions(o.hangTimeout, o.maxHeap);
  const files = findCounterexamples(dir);
  let reproduced = 0;
  // One host replays one counterexample after another (a new one after a replay that stopped it):
  // a replay is one run, and a fresh host's start is most of its time.
  const hosts = new HostPool();
  // Every driver's modules at once: the same loader options for all, so one host serves them all.
  const loading = await loaderFor([...new Set(files.map(driverModule))]);
  try {
    for (const path of files) {
      try {
        const r = await runWatchedJob(
          { module: JOB_MODULE, fn: 'counterexampleJob', args: [path] },
          { ...watch, ...loading, runs: 1 },
          signal,
          hosts,
        );
        process.stdout.write(r.stdout);
        if (r.exitCode === REPRODUCED) reproduced++;
      } catch (e) {
        // Driver code that stops returning control while the run replays: the race still hangs it.
        if (e instanceof WorkerStallError && e.stall.phase === 'running') {
          process.stdout.write(`reproduced  ${path}: the replay stopped: ${e.message}\n`);
          reproduced++;
          continue;
        }
        throw watchedFailure(e, path);
      }
    }
  } finally {
    await hosts.close();
  }
  process.stdout.write(
    `${files.length} saved counterexample(s) in ${dir}: ${reproduced === 0 ? 'none reproduces' : `${reproduced} reproduce(s)`}\n`,
  );
  return reproduced === 0 ? 0 : 1;
}
