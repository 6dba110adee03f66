import { describe, expect, it } from 'vitest';
import { WatchedWorker, WorkerJobError, WorkerStallError } from './watchdog.js';

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
});
