import { describe, expect, it } from 'vitest';
import { runCampaign } from './campaign.js';
import { type ParallelOptions, runParallelCampaign } from './parallel.js';
import { flushed, hangsLate, loader, outcome, unflushed } from './test-campaigns.js';
import { mirror } from './test-mirror.js';

// One worker runs the whole campaign in one job and notes each epoch's scan; more workers get a
// job per epoch. Both merge the same candidates in the same order, as the in-process campaign does.
describe('runParallelCampaign: one worker, one job', () => {
  it('should find what per-epoch jobs on two workers and the in-process campaign find, with feedback across four epochs', async () => {
    const options: ParallelOptions = { runs: 200, seed: 3, loader };
    const one = await runParallelCampaign(flushed, { ...options, workers: 1 });
    const two = await runParallelCampaign(flushed, { ...options, workers: 2 });
    const here = await runCampaign(mirror(true), { runs: 200, seed: 3 });
    expect(one.runs).toBe(200);
    expect(one.corpus.mutants).toBeGreaterThan(0);
    expect(one.corpus.kept.length).toBeGreaterThan(0);
    expect(outcome(one)).toEqual(outcome(two));
    expect(outcome(one)).toEqual(outcome(here));
  });

  // Two workers' failing run and token against one worker's: test/cli/runtime.test.ts.
  it('should stop at the first failing run and give the counterexample of the in-process campaign', async () => {
    const one = await runParallelCampaign(unflushed, { runs: 400, seed: 5, loader, shrink: false, workers: 1 });
    const here = await runCampaign(mirror(false), { runs: 400, seed: 5, shrink: false });
    expect(one.verdict).toBe('fail');
    expect(one.runs).toBe((one.failure?.runIndex ?? -1) + 1);
    expect(outcome(one)).toEqual(outcome(here));
  });

  it('should report what one worker reports when another worker scanned past the failing run', async () => {
    const options: ParallelOptions = { runs: 400, seed: 5, loader, shrink: false };
    const one = await runParallelCampaign(unflushed, { ...options, workers: 1 });
    const two = await runParallelCampaign(unflushed, { ...options, workers: 2 });
    expect(two.verdict).toBe('fail');
    expect(outcome(two)).toEqual(outcome(one));
  });

  it('should keep to the time limit in the worker and report the runs it made', async () => {
    const r = await runParallelCampaign(flushed, { runs: 1_000_000, timeMs: 500, seed: 1, workers: 1, loader });
    expect(r.verdict).toBe('pass');
    expect(r.runs).toBeGreaterThan(0);
    expect(r.runs).toBeLessThan(1_000_000);
  });
});

// What the runs before a hung one found dies with the worker: a new worker makes them again. The
// hang bound is 2 s: the driver's runs take milliseconds between two heartbeats.
describe('runParallelCampaign: a run that hangs', () => {
  it.each([1, 2])('should report the runs made before a run that hangs, and what they found (%i workers)', async (workers) => {
    const options: ParallelOptions = { seed: 9, loader, shrink: false, hangTimeoutMs: 2000, workers: 1 };
    // The runs before it: the same driver passes them all.
    const before = await runParallelCampaign(hangsLate, { ...options, runs: 87 });
    expect(before.verdict).toBe('pass');
    expect(before.runs).toBe(87);
    const hung = await runParallelCampaign(hangsLate, { ...options, workers, runs: workers === 1 ? 400 : 88 });
    expect(hung.failure?.violation.rule).toBe('callback-hung');
    expect(hung.failure?.runIndex).toBe(87);
    expect(hung.runs).toBe(88);
    expect(hung.coverage).toEqual(before.coverage);
    expect(hung.flushes).toEqual(before.flushes);
  });

  // Seeded 2002, run 49 hangs, and run 50, the first of the other worker's runs made ahead of the
  // next epoch: the finishing job, given to that worker, stops responding; a new worker does it.
  it('should finish on a new worker when the one it was given hangs in a run made ahead', async () => {
    const options: ParallelOptions = { seed: 2002, loader, shrink: false, hangTimeoutMs: 2000 };
    const before = await runParallelCampaign(hangsLate, { ...options, runs: 49, workers: 1 });
    const hung = await runParallelCampaign(hangsLate, { ...options, runs: 400, workers: 2 });
    expect(hung.failure?.violation.rule).toBe('callback-hung');
    expect(hung.failure?.runIndex).toBe(49);
    expect(hung.runs).toBe(50);
    expect(hung.coverage).toEqual(before.coverage);
  });

  // Seeded 9, runs 110 and 130 hang as well: the other worker, its share of runs 50 to 99 done,
  // makes its runs of the next epoch ahead and hangs in run 110, which the campaign never makes;
  // its share before run 87 is then scanned again by a new worker.
  it('should report the first hung run when another worker hangs in a run made ahead of an epoch that never comes', async () => {
    const options: ParallelOptions = { seed: 9, loader, shrink: false, hangTimeoutMs: 2000 };
    const before = await runParallelCampaign(hangsLate, { ...options, runs: 87, workers: 1 });
    const hung = await runParallelCampaign(hangsLate, { ...options, runs: 400, workers: 2 });
    expect(hung.failure?.violation.rule).toBe('callback-hung');
    expect(hung.failure?.runIndex).toBe(87);
    expect(hung.runs).toBe(88);
    expect(hung.coverage).toEqual(before.coverage);
  });
});
