import { fileURLToPath } from 'node:url';
import { loadDriver } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { type CampaignOptions, freshWhatever, type Scan, scanEpoch } from './campaign.js';
import { absorb, poolWeights } from './corpus.js';
import { type FeedDelta, scanJob } from './jobs.js';
import { probes } from './test-counted.js';

const file = fileURLToPath(new URL('./test-counted.ts', import.meta.url));
const turn = (): Promise<void> => new Promise((res) => setImmediate(res));

/** A scan without its time. */
const untimed = ({ elapsedMs: _t, ...s }: Scan) => s;

// A per-epoch job's worker makes the next epoch's runs that do not depend on the corpus while its
// caller merges; the next job takes them as made. Here in one thread, as a worker runs the jobs.
describe('scanJob: runs made ahead of their epoch', () => {
  it("should make the next epoch's fresh runs between two jobs, once each, and scan as a scan without them", async () => {
    const options: CampaignOptions = { runs: 100, seed: 3 };
    const feed = (from: number, to: number, pool: FeedDelta['pool'], known: readonly string[], weights: readonly number[]): FeedDelta => ({
      campaign: 'made-ahead',
      from,
      to,
      poolFrom: 0,
      pool,
      knownFrom: 0,
      known,
      weights,
    });
    const first = await scanJob({ file, options, index: 0, count: 1, feed: feed(0, 50, [], [], []), doneBefore: 0 });
    expect(first.failing).toBe(-1);
    const known = new Set<string>();
    const pool = absorb(first.candidates, known);
    expect(pool.length).toBeGreaterThan(0);
    const ahead = Array.from({ length: 50 }, (_x, k) => 50 + k).filter((i) => freshWhatever(options, 0, i));
    expect(ahead.length).toBeGreaterThan(0);
    expect(ahead.length).toBeLessThan(50);
    // No job runs now: the runs made are the ones ahead.
    const before = probes.count;
    for (let t = 0; t < 10_000 && probes.count - before < ahead.length; t++) await turn();
    for (let t = 0; t < 20; t++) await turn();
    expect(probes.count - before).toBe(ahead.length);
    const weights = poolWeights(pool, first.coverage);
    const second = await scanJob({ file, options, index: 0, count: 1, feed: feed(50, 100, pool, [...known], weights), doneBefore: 50 });
    // Every run of the epoch once: the ones made ahead are not run again.
    expect(probes.count - before).toBe(50);
    expect(second.done).toBe(50);
    expect(second.mutants).toBe(50 - ahead.length);
    const driver = await loadDriver(file);
    const again = await scanEpoch(driver, options, { from: 50, to: 100, pool, weights, known: [...known] });
    expect(untimed(second)).toEqual(untimed(again));
  });
});
