/**
 * A counterexample crosses from the campaign's worker thread to the main thread by structured
 * clone. Its trace names the owner of every MIGRATE and EXCLUSIVE invalidation, and an owner is
 * whatever pointer the driver passed: for the dmirror port, its device object with closures, which
 * structured clone refuses. The counterexample of A1 (the driver skips its own MIGRATE) is full of
 * such events; it must reach the main thread with each owner as its report text.
 */
import { runParallelCampaign } from '@hmmlab/fuzz';
import { describe, expect, it } from 'vitest';

const loader = import.meta.resolve('tsx/esm/api');
const a1 = new URL('./a1-dmirror-migrate-to-device/driver.ts', import.meta.url).pathname;
const fixed = new URL('../../examples/dmirror-fixed/driver.ts', import.meta.url).pathname;

describe('a counterexample from a worker', () => {
  it('should reach the main thread with the owners of its invalidations as text', async () => {
    const r = await runParallelCampaign(a1, { runs: 200, seed: 1, workers: 1, loader });
    expect(r.verdict).toBe('fail');
    const trace = r.failure?.violation.trace ?? [];
    const owners = trace.flatMap((e) => ('owner' in e && e.owner !== null && e.owner !== undefined ? [e.owner] : []));
    expect(owners.length).toBeGreaterThan(0);
    // dmirror's owner is its `dmirror_device`, named by the device it holds.
    for (const o of owners) expect(o).toMatch(/^owner of /);
    // What the main thread holds can be cloned again (a checkpoint, a merged shard).
    expect(() => structuredClone(r.failure)).not.toThrow();
  });

  it('should pass the fixed port through the same worker', async () => {
    const r = await runParallelCampaign(fixed, { runs: 200, seed: 1, workers: 1, loader });
    expect(r.verdict).toBe('pass');
    expect(r.failure).toBeNull();
  });
});
