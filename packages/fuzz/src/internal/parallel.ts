/**
 * Campaigns in watched worker threads (watchdog.ts): driver code never runs in the calling
 * thread, so a callback that spins or allocates without bound is stopped and reported, with a
 * replay token, instead of hanging or crashing the caller. Run indices are split round-robin over
 * workers; each scans its share in index order and stops at its first failure; the campaign's
 * failure is the lowest failing (or stopped) index, so the result does not depend on the number
 * of workers.
 */
import { availableParallelism } from 'node:os';
import type { CampaignOptions, CampaignResult, Scan } from './campaign.js';
import { emptyCounts } from './counts.js';
import { mergeCoverage, mergeFlushes } from './coverage.js';
import type { FinishJob, ScanJob } from './jobs.js';
import { type Stall, WatchedWorker, type WatchOptions, WorkerStallError } from './watchdog.js';

/** Options of a parallel campaign (functions cannot cross into workers, so only data). */
export type ParallelOptions = Omit<CampaignOptions, 'onProgress' | 'runFilter'> &
  Omit<WatchOptions, 'onNote'> & {
    /** Worker threads. @defaultValue the machine's available parallelism */
    readonly workers?: number;
    /** Called as runs complete: runs done, runs asked for, cells reached and runs that broke a rule, over all workers. */
    readonly onProgress?: (done: number, total: number, reached: { readonly cells: number; readonly violations: number }) => void;
    /** Called once the driver has loaded and probed, with its name. */
    readonly onReady?: (name: string) => void;
    /** Aborting stops the workers; the campaign rejects with the signal's reason. */
    readonly signal?: AbortSignal;
  };

const JOBS = new URL(import.meta.url.endsWith('.ts') ? './jobs.ts' : './jobs.js', import.meta.url).href;

/**
 * Runs a campaign of the driver module `file` in watched worker threads. Rejects with a
 * `WorkerJobError` whose `errorName` is `DriverLoadError` when the module or its probe fails.
 */
export async function runParallelCampaign(file: string, options: ParallelOptions = {}): Promise<CampaignResult> {
  const t0 = performance.now();
  const count = Math.max(1, Math.min(options.workers ?? availableParallelism(), 64));
  const { onProgress, onReady, signal, workers: _w, hangTimeoutMs, heapMb, loader, ...data } = options;
  const watch: WatchOptions = {
    ...(hangTimeoutMs !== undefined ? { hangTimeoutMs } : {}),
    ...(heapMb !== undefined ? { heapMb } : {}),
    ...(loader !== undefined ? { loader } : {}),
  };
  const progress = new Array<number>(count).fill(0);
  const cells = new Set<string>();
  let violations = 0;
  let ready = false;
  const live: WatchedWorker[] = [];
  const spawn = (i: number): WatchedWorker => {
    const w = new WatchedWorker({
      ...watch,
      onNote: (n) => {
        const note = n as { type: string; done?: number; name?: string; cells?: string[]; failed?: boolean };
        if (note.type === 'progress' && typeof note.done === 'number') {
          progress[i] = note.done;
          for (const c of note.cells ?? []) cells.add(c);
          if (note.failed === true) violations++;
          onProgress?.(
            progress.reduce((a, b) => a + b, 0),
            data.runs ?? 1000,
            { cells: cells.size, violations },
          );
        } else if (note.type === 'ready' && !ready && typeof note.name === 'string') {
          ready = true;
          onReady?.(note.name);
        }
      },
    });
    live.push(w);
    return w;
  };
  const abort = (): void => {
    for (const w of live) void w.stop(signal?.reason instanceof Error ? signal.reason : new Error('the campaign was interrupted'));
  };
  signal?.addEventListener('abort', abort, { once: true });
  try {
    signal?.throwIfAborted();
    let lowest = Number.POSITIVE_INFINITY;
    const stalls: Stall[] = [];
    const workers = Array.from({ length: count }, (_x, i) => spawn(i));
    const scans = await Promise.all(
      workers.map(async (w, index) => {
        try {
          const s = await w.call<Scan>(JOBS, 'scanJob', { file, options: data, index, count } satisfies ScanJob);
          if (s.failing >= 0 && s.failing < lowest) {
            lowest = s.failing;
            for (const other of workers) other.post({ stopAt: lowest });
          }
          return s;
        } catch (e) {
          if (!(e instanceof WorkerStallError) || e.stall.run < 0) throw e;
          stalls.push(e.stall);
          if (e.stall.run < lowest) {
            lowest = e.stall.run;
            for (const other of workers) other.post({ stopAt: lowest });
          }
          return { ...emptyScan(), done: progress[index] ?? 0 };
        }
      }),
    );
    signal?.throwIfAborted();
    const total = emptyScan();
    for (const s of scans) {
      total.done += s.done;
      total.steps += s.steps;
      mergeCoverage(total.coverage, { cells: s.coverage.cells ?? {}, windows: s.coverage.windows ?? {} });
      mergeFlushes(total.flushes, s.flushes);
      if (s.failing >= 0 && (total.failing < 0 || s.failing < total.failing)) total.failing = s.failing;
    }
    const stall = stalls.filter((s) => total.failing < 0 || s.run < total.failing).sort((a, b) => a.run - b.run)[0] ?? null;
    if (stall !== null) total.failing = stall.run;
    // The finishing job reuses a worker that is still alive (its modules are loaded already).
    const finish = (opts: CampaignOptions): Promise<CampaignResult> =>
      (workers.find((w) => w.alive) ?? spawn(count)).call<CampaignResult>(JOBS, 'finishJob', {
        file,
        options: opts,
        scan: total,
        stall,
      } satisfies FinishJob);
    let result: CampaignResult;
    try {
      result = await finish(data);
    } catch (e) {
      // A shrinking attempt can hang where the failing run did not: report the run unshrunk.
      if (!(e instanceof WorkerStallError) || stall !== null || data.shrink === false) throw e;
      result = await finish({ ...data, shrink: false });
    }
    return { ...result, elapsedMs: Math.round(performance.now() - t0) };
  } finally {
    signal?.removeEventListener('abort', abort);
    await Promise.all(live.map((w) => w.stop()));
  }
}

function emptyScan(): Scan {
  return {
    done: 0,
    steps: 0,
    coverage: { cells: {}, windows: {} },
    flushes: { total: emptyCounts(), byEvent: {} },
    failing: -1,
    elapsedMs: 0,
  };
}
