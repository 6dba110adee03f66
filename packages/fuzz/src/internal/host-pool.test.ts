import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HostPool, hostKey } from './host-pool.js';
import type { ScanJob } from './jobs.js';
import { campaignHosts, type ParallelOptions, runParallelCampaign } from './parallel.js';
import { flushed, hangsLate, loader, outcome, unflushed } from './test-campaigns.js';

const pools: HostPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
function pool(): HostPool {
  const p = new HostPool();
  pools.push(p);
  return p;
}

describe('hostKey', () => {
  it("should tell hosts apart by their loader's data, and not by where notes go or the runs", () => {
    const a = { loader: 'file:///l.js', loaderData: { modules: { 'file:///a.ts': '/tmp/a.mjs' }, resolved: {} } };
    const b = { loader: 'file:///l.js', loaderData: { modules: { 'file:///b.ts': '/tmp/b.mjs' }, resolved: {} } };
    expect(hostKey(a)).not.toBe(hostKey(b));
    expect(hostKey({ ...a, runs: 10, onNote: () => {} })).toBe(hostKey({ loaderData: a.loaderData, loader: a.loader, runs: 5000 }));
  });
});

describe('HostPool', () => {
  it("should give each campaign the result it has on hosts of its own, and start a host only for a campaign's first worker", async () => {
    const hosts = pool();
    const failing: ParallelOptions = { runs: 400, seed: 5, loader, shrink: false, workers: 1 };
    const passing: ParallelOptions = { runs: 200, seed: 3, loader, workers: 1 };
    // A driver that fails, then another that passes, on the host the first one started.
    const a = await runParallelCampaign(unflushed, { ...failing, hosts });
    const b = await runParallelCampaign(flushed, { ...passing, hosts });
    expect(hosts.started).toBe(1);
    // Two workers: the kept host and one more.
    const c = await runParallelCampaign(flushed, { ...passing, workers: 2, hosts });
    expect(hosts.started).toBe(2);
    expect(a.verdict).toBe('fail');
    expect(b.verdict).toBe('pass');
    expect(outcome(a)).toEqual(outcome(await runParallelCampaign(unflushed, failing)));
    expect(outcome(b)).toEqual(outcome(await runParallelCampaign(flushed, passing)));
    expect(outcome(c)).toEqual(outcome(b));
  });

  it('should stop the hosts of a campaign that did not end, and start new ones for the next', async () => {
    const hosts = pool();
    await expect(
      runParallelCampaign(fileURLToPath(new URL('./test-nowhere.ts', import.meta.url)), { runs: 10, loader, workers: 1, hosts }),
    ).rejects.toThrow();
    const b = await runParallelCampaign(flushed, { runs: 200, seed: 3, loader, workers: 1, hosts });
    expect(b.verdict).toBe('pass');
    expect(hosts.started).toBe(2);
  });

  // Seeded 9, runs 87, 110 and 130 hang: the second worker makes its runs of the next epoch ahead
  // and hangs in run 110, which the campaign never makes (parallel.test.ts). A host is given back
  // only once it has made its last run: one that hangs there is stopped, and the next campaign's
  // result is the one it has on hosts of its own.
  it('should not give out a host that hangs in a run of the campaign before', async () => {
    const hosts = pool();
    const hung = await runParallelCampaign(hangsLate, {
      seed: 9,
      runs: 400,
      loader,
      shrink: false,
      hangTimeoutMs: 2000,
      workers: 2,
      hosts,
    });
    expect(hung.failure?.violation.rule).toBe('callback-hung');
    expect(hung.failure?.runIndex).toBe(87);
    const passing: ParallelOptions = { runs: 200, seed: 3, loader, workers: 2 };
    const next = await runParallelCampaign(flushed, { ...passing, hosts });
    expect(outcome(next)).toEqual(outcome(await runParallelCampaign(flushed, passing)));
  });

  // Without feedback, seeded 9, run 55 is the first that hangs. The second of six workers, once it
  // has scanned its share of runs 0 to 49 (1, 7, …, 49), makes its runs of the next epoch ahead,
  // from run 55, after it returned: given back then, it must not be given out while it hangs there
  // (the next campaign would stop at that run, and take it for one of its own).
  it('should give out a host only once it makes no run of the campaign before', async () => {
    const hosts = pool();
    // The hosts of the next campaign.
    const passing: ParallelOptions = { runs: 200, seed: 3, loader, hangTimeoutMs: 2000, workers: 1 };
    const { jobs, watch } = campaignHosts(passing);
    const w = hosts.take(watch);
    const scan = await w.call<{ failing: number; done: number }>(jobs, 'scanJob', {
      file: hangsLate,
      options: { seed: 9, runs: 400, shrink: false, feedback: false },
      index: 1,
      count: 6,
      feed: { campaign: 'before', from: 0, to: 50, poolFrom: 0, pool: [], knownFrom: 0, known: [], weights: [] },
      doneBefore: 0,
    } satisfies ScanJob);
    expect(scan).toMatchObject({ failing: -1, done: 9 });
    await hosts.give(w, watch);
    const next = await runParallelCampaign(flushed, { ...passing, hosts });
    expect(outcome(next)).toEqual(outcome(await runParallelCampaign(flushed, passing)));
  });

  it('should stop its hosts when closed, and give out none after', async () => {
    const hosts = pool();
    await runParallelCampaign(flushed, { runs: 20, seed: 1, loader, workers: 1, hosts });
    await hosts.close();
    expect(() => hosts.take({ loader })).toThrow(/closed/);
  });
});
