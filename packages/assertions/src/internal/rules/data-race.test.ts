import { firstRunnable, Kernel, seededDecisions } from '@hmmlab/core';
import { SharedCell, type World } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { FlushOracle } from '../oracle.js';

/** A bare world for the oracle: a kernel with no devices and no scenario. */
function world(kernel: Kernel): World {
  return {
    kernel,
    scenario: { regions: [], tasks: [] },
    processes: [],
    dead: new Set(),
    driver: null,
    binding: null,
    devices: [],
    regionBase: [],
  };
}

type Body = (k: Kernel, cell: SharedCell<number>) => Promise<void>;

/** Runs two tasks that share one cell under the oracle and returns the rules it reported. */
async function race(a: Body, b: Body, options: { atomic?: boolean; seed?: number } = {}): Promise<string[]> {
  const k = new Kernel();
  const oracle = new FlushOracle();
  oracle.attach(world(k));
  const cell = new SharedCell(k, 'flag', 0, { atomic: options.atomic ?? false });
  k.spawn('a', 'driver', () => a(k, cell));
  k.spawn('b', 'driver', () => b(k, cell));
  const run = await k.run(options.seed === undefined ? firstRunnable : seededDecisions(options.seed));
  return oracle.finish(run).violations.map((v) => v.rule);
}

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

describe('data-race', () => {
  it.each(SEEDS)('should report two unlocked writes on any schedule (seed %i)', async (seed) => {
    const write: Body = async (_k, c) => c.set(1);
    expect(await race(write, write, { seed })).toEqual(['data-race']);
  });

  it.each(SEEDS)('should accept the same writes under one mutex (seed %i)', async (seed) => {
    let m: ReturnType<Kernel['mutex']> | null = null;
    const write: Body = async (k, c) => {
      m ??= k.mutex('m');
      await m.lock();
      c.set(c.get() + 1);
      m.unlock();
    };
    expect(await race(write, write, { seed })).toEqual([]);
  });

  it('should report a write under one lock and a read under another', async () => {
    const under =
      (name: string): Body =>
      async (k, c) => {
        const m = k.mutex(name);
        await m.lock();
        if (name === 'x') c.set(1);
        else c.get();
        m.unlock();
      };
    expect(await race(under('x'), under('y'))).toEqual(['data-race']);
  });

  it('should accept two readers', async () => {
    const read: Body = async (_k, c) => {
      c.get();
    };
    expect(await race(read, read)).toEqual([]);
  });

  it('should accept atomic accesses, and order a wait after the wake-up it ends', async () => {
    const write: Body = async (_k, c) => c.set(1);
    expect(await race(write, write, { atomic: true })).toEqual([]);
    let done: ReturnType<Kernel['completion']> | null = null;
    const first: Body = async (k, c) => {
      done ??= k.completion('done');
      c.set(1);
      done.completeAll();
    };
    const second: Body = async (k, c) => {
      done ??= k.completion('done');
      await done.waitForCompletion();
      c.set(2);
    };
    expect(await race(first, second)).toEqual([]);
  });

  it('should name both accesses, their tasks and their locks', async () => {
    const k = new Kernel();
    const oracle = new FlushOracle();
    oracle.attach(world(k));
    const cell = new SharedCell(k, 'gpu0 present', false);
    const m = k.mutex('gpu0 svm lock');
    k.spawn('fault', 'device', async () => {
      await m.lock();
      m.unlock();
      cell.set(true);
    });
    k.spawn('notifier', 'cpu', async () => {
      await m.lock();
      cell.get();
      m.unlock();
    });
    const v = oracle.finish(await k.run(firstRunnable)).violations[0];
    expect(v?.rule).toBe('data-race');
    expect(v?.explanation).toMatch(
      /^shared state "gpu0 present": fault#1 writes it at step \d+ holding no lock, and notifier#2 reads it at step \d+ holding gpu0 svm lock/,
    );
  });
});
