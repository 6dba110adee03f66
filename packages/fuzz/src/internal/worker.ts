/**
 * A fuzz worker: scans its share of a campaign's runs and reports back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadDriver } from '@hmmlab/harness';
import { type CampaignOptions, scanRuns } from './campaign.js';
import type { WorkerMessage } from './parallel.js';

const { file, options, index, count } = workerData as { file: string; options: CampaignOptions; index: number; count: number };
const port = parentPort;
let stopAt = Number.POSITIVE_INFINITY;
port?.on('message', (m: { stopAt?: number }) => {
  if (typeof m.stopAt === 'number') stopAt = Math.min(stopAt, m.stopAt);
});
const post = (m: WorkerMessage): void => port?.postMessage(m);
try {
  const driver = await loadDriver(file);
  const scan = await scanRuns(
    driver,
    { ...options, runFilter: (i) => i % count === index, onProgress: (done) => post({ type: 'progress', done }) },
    () => stopAt,
  );
  post({ type: 'done', scan });
} catch (e) {
  post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
}
port?.close();
