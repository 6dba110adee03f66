import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fatalMessage, WatchedWorker, WorkerJobError, WorkerStallError } from './watchdog.js';

// The worker runs hmmlab's TypeScript sources, as the CLI's do: with tsx's loader.
const loader = import.meta.resolve('tsx/esm/api');
const jobs = new URL('./watchdog-jobs.test-fixture.mjs', import.meta.url).href;

describe('WatchedWorker', () => {
  it('should return what the job returns', async () => {
    const w = new WatchedWorker({ loader, hangTimeoutMs: 1000 });
    try {
      expect(await w.call(jobs, 'echo', { n: 3 })).toEqual({ n: 3 });
    } finally {
      await w.stop();
    }
  });

  it('should reject with what the job threw', async () => {
    const w = new WatchedWorker({ loader, hangTimeoutMs: 1000 });
    try {
      const e = await w.call(jobs, 'fail', null).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WorkerJobError);
      expect((e as WorkerJobError).errorName).toBe('RangeError');
      expect((e as WorkerJobError).message).toBe('bad job');
    } finally {
      await w.stop();
    }
  });

  it.each([
    ['hung', 'spin', { hangTimeoutMs: 300 }],
    ['out-of-memory', 'hoard', { heapMb: 32 }],
  ] as const)('should stop a job that never returns control and report it as %s', async (kind, fn, bound) => {
    const w = new WatchedWorker({ loader, ...bound });
    try {
      const e = await w.call(jobs, fn, null).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WorkerStallError);
      expect((e as WorkerStallError).stall.kind).toBe(kind);
      expect(w.alive).toBe(false);
    } finally {
      await w.stop();
    }
  });

  it('should outlive a job that makes V8 abort its process and report where the job was', async () => {
    // One array grown without bound: V8 ends the whole process, not the thread.
    const w = new WatchedWorker({ loader, heapMb: 64 });
    try {
      const e = await w.call(jobs, 'grow', null).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WorkerStallError);
      const stall = (e as WorkerStallError).stall;
      expect(stall.kind).toBe('aborted');
      expect(stall.message).toMatch(/heap/);
      // Where the host last saw the thread: loaded, out of any numbered run, no decisions yet.
      expect(stall.phase).toBe('probing');
      expect(stall.decisions).toEqual([]);
      expect(w.alive).toBe(false);
      // The worker that ran the same job before is gone; a new one works.
      const again = new WatchedWorker({ loader });
      try {
        expect(await again.call(jobs, 'echo', 5)).toBe(5);
      } finally {
        await again.stop();
      }
    } finally {
      await w.stop();
    }
  });
});

describe('a stopped watched worker', () => {
  it.each([
    ['spin', '300', 'hung'],
    ['grow', '60000', 'aborted'],
  ])('should not keep its caller alive once the watchdog stopped its job (%s)', (job, hangMs, kind) => {
    const fixture = fileURLToPath(new URL('./watchdog-exit.test-fixture.mjs', import.meta.url));
    const r = spawnSync(process.execPath, ['--conditions=@hmmlab/source', '--import', 'tsx', fixture, job, hangMs], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${kind}\n`);
  });
});

describe('fatalMessage', () => {
  it("should take V8's words from what it printed when it aborted", () => {
    expect(fatalMessage(['#', '# Fatal error in , line 0', '# Fatal JavaScript invalid size error 169220804', '#'])).toBe(
      'Fatal JavaScript invalid size error 169220804',
    );
    expect(
      fatalMessage(['<--- Last few GCs --->', '', 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory']),
    ).toBe('Reached heap limit Allocation failed - JavaScript heap out of memory');
    expect(fatalMessage(['', 'something else'])).toBe('something else');
  });
});
