/**
 * The interval notifier's sequence as shared state: `mmu_interval_set_seq` is a `WRITE_ONCE` and
 * `mmu_interval_read_retry` a plain load of the same field (include/linux/mmu_notifier.h), ordered
 * only by the driver lock both must run under. A callback that moves the sequence without that
 * lock, or after dropping it, races with the fault path's `read_retry`.
 */
import {
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MmuIntervalNotifier,
  type Mutex,
  mmuIntervalCheckRetry,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  PROT_READ,
  PROT_WRITE,
  seededDecisions,
} from '@hmmlab/core';
import type { World } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { FlushOracle } from '../oracle.js';

/** How the callback moves the sequence relative to the driver lock. */
type Callback = 'under-lock' | 'no-lock' | 'after-unlock';
/** How the fault path reads it back. */
type Reader = 'read_retry-under-lock' | 'check_retry';

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

/**
 * A fault path (`read_begin`, then, after the callback, the driver lock and `read_retry`) and an
 * invalidation of the same range on another task; returns the oracle's violations.
 */
async function run(cb: Callback, reader: Reader, seed: number): Promise<{ rule: string; explanation: string }[]> {
  const k = new Kernel();
  const oracle = new FlushOracle();
  oracle.attach(world(k));
  const mm = k.createMm();
  const lock: Mutex = k.mutex('driver lock');
  const sub = new MmuIntervalNotifier('mirror');
  const flag = { begun: false, called: false };
  k.spawn('setup', 'cpu', async () => {
    const va = await mm.mmap(0, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    await mmuIntervalNotifierInsert(sub, mm, va, 0x1000, {
      async invalidate(mni, _range, curSeq) {
        if (cb !== 'no-lock') await lock.lock();
        if (cb === 'under-lock') mmuIntervalSetSeq(mni, curSeq);
        if (cb !== 'no-lock') lock.unlock();
        if (cb !== 'under-lock') mmuIntervalSetSeq(mni, curSeq);
        flag.called = true;
        return true;
      },
    });
    // Plain flags (no edge): the fault path reads its sequence before the invalidation, and
    // checks it once the callback has returned.
    k.spawn('fault', 'driver', async () => {
      const seq = await mmuIntervalReadBegin(sub);
      flag.begun = true;
      while (!flag.called) await k.yieldPoint();
      if (reader === 'check_retry') {
        expect(mmuIntervalCheckRetry(sub, seq)).toBe(true);
        return;
      }
      await lock.lock();
      expect(mmuIntervalReadRetry(sub, seq)).toBe(true);
      lock.unlock();
    });
    // munmap invalidates the range (zap_page_range_single → mmu_notifier_invalidate_range_start).
    k.spawn('inv', 'cpu', async () => {
      while (!flag.begun) await k.yieldPoint();
      expect(await mm.munmap(va, 0x1000)).toBe(0);
    });
  });
  const r = await k.run(seededDecisions(seed));
  expect(r.status).toBe('done');
  return oracle.finish(r).violations.map((v) => ({ rule: v.rule, explanation: v.explanation }));
}

const SEEDS = [1, 2, 3, 4, 5, 6];

describe('data-race on an interval notifier sequence', () => {
  it.each(['no-lock', 'after-unlock'] as const)('should report a set_seq %s against the read_retry under the lock', async (cb) => {
    const v = await run(cb, 'read_retry-under-lock', 1);
    expect(v.map((x) => x.rule)).toEqual(['data-race']);
    expect(v[0]?.explanation).toMatch(
      /^the sequence of interval notifier "mirror" \(mmu_interval_set_seq writes it, mmu_interval_read_retry reads it\): inv#\d+ writes it .* in interval notifier "mirror" invalidate, inv #\d+ holding mm \d+ mmap_lock \(atomically\), and fault#\d+ reads it .* holding driver lock; no lock in common/,
    );
  });

  it.each(SEEDS)('should report a set_seq after the unlock on any schedule (seed %i)', async (seed) => {
    expect((await run('after-unlock', 'read_retry-under-lock', seed)).map((x) => x.rule)).toEqual(['data-race']);
  });

  it.each(SEEDS)('should accept set_seq and read_retry under the same lock (seed %i)', async (seed) => {
    expect(await run('under-lock', 'read_retry-under-lock', seed)).toEqual([]);
  });

  it.each(SEEDS)('should accept the lockless check_retry, a READ_ONCE paired with the WRITE_ONCE (seed %i)', async (seed) => {
    expect(await run('no-lock', 'check_retry', seed)).toEqual([]);
  });
});
