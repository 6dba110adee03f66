/**
 * Parallel campaigns over worker threads. Run indices are split round-robin over workers; each
 * worker scans its share in index order and reports its first failure; the campaign's failure is
 * the lowest failing index, so the result does not depend on the number of workers.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { HmmlabError } from '@hmmlab/core';
import { loadDriver } from '@hmmlab/harness';
import { type CampaignOptions, type CampaignResult, counterexample, coverageUniverse, type Scan, summarize } from './campaign.js';
import { emptyCounts } from './counts.js';
import { mergeCoverage, mergeFlushes } from './coverage.js';

/** Messages from a worker. */
export type WorkerMessage = { type: 'progress'; done: number } | { type: 'done'; scan: Scan } | { type: 'error'; message: string };

/** Options of a parallel campaign (functions cannot cross into workers, so only data). */
export type ParallelOptions = Omit<CampaignOptions, 'onProgress' | 'runFilter'> & {
  /** Worker threads. @defaultValue the machine's available parallelism */
  readonly workers?: number;
  readonly onProgress?: (done: number, total: number) => void;
};

/**
 * Runs a campaign of the driver module `file` over worker threads. Workers load TypeScript driver
 * modules with tsx, with the same flags as this process (`--import tsx`).
 */
export async function runParallelCampaign(file: string, options: ParallelOptions = {}): Promise<CampaignResult> {
  const t0 = performance.now();
  const driver = await loadDriver(file);
  const count = Math.max(1, Math.min(options.workers ?? availableParallelism(), 64));
  const { onProgress, workers: _w, ...data } = options;
  const progress = new Array<number>(count).fill(0);
  const total: Scan = {
    done: 0,
    steps: 0,
    coverage: { cells: {}, windows: {} },
    flushes: { total: emptyCounts(), byEvent: {} },
    failing: -1,
    elapsedMs: 0,
  };
  let lowest = Number.POSITIVE_INFINITY;
  const workers: Worker[] = [];
  const finished = Array.from({ length: count }, (_x, index) => {
    const w = new Worker(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url), {
      workerData: { file, options: data, index, count },
      execArgv: process.execArgv,
    });
    workers.push(w);
    return new Promise<Scan>((resolve, reject) => {
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'progress') {
          progress[index] = m.done;
          onProgress?.(
            progress.reduce((a, b) => a + b, 0),
            options.runs ?? 1000,
          );
        } else if (m.type === 'done') {
          if (m.scan.failing >= 0 && m.scan.failing < lowest) {
            lowest = m.scan.failing;
            for (const other of workers) other.postMessage({ stopAt: lowest });
          }
          resolve(m.scan);
        } else {
          reject(new HmmlabError('ERR_STATE', `fuzz worker ${index}: ${m.message}`));
        }
      });
      w.on('error', reject);
    });
  });
  let scans: Scan[];
  try {
    scans = await Promise.all(finished);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  for (const s of scans) {
    total.done += s.done;
    total.steps += s.steps;
    mergeCoverage(total.coverage, { cells: s.coverage.cells ?? {}, windows: s.coverage.windows ?? {} });
    mergeFlushes(total.flushes, s.flushes);
    if (s.failing >= 0 && (total.failing < 0 || s.failing < total.failing)) total.failing = s.failing;
  }
  const failure = total.failing >= 0 ? await counterexample(driver, total.failing, data) : null;
  const universe = await coverageUniverse(driver);
  return summarize(driver, data, universe, { ...total, failure, elapsedMs: performance.now() - t0 });
}
