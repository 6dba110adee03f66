import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from '../notifier/interval-notifier.js';
import { seededDecisions } from './decisions.js';
import { epochOf, happensBefore } from './happens-before.js';
import type { Task } from './scheduler.js';

interface Mark {
  task: Task;
  epoch: number;
}

function mark(k: Kernel): Mark {
  const t = k.sched.current;
  return { task: t, epoch: epochOf(t) };
}

/** True if `a` happens before whatever the running task does now. */
function ordered(k: Kernel, a: Mark): boolean {
  return happensBefore(a.task.id, a.epoch, k.sched.current);
}

describe('happensBefore', () => {
  test.prop([fc.integer()], { numRuns: 30 })('should order accesses made under the same mutex, in either order', async (seed) => {
    const k = new Kernel();
    k.sched.trackHappensBefore();
    const m = k.mutex('m');
    const seen: boolean[] = [];
    let last: Mark | null = null;
    for (let i = 0; i < 2; i++) {
      k.spawn(`t${i}`, 'cpu', async () => {
        await m.lock();
        if (last !== null) seen.push(ordered(k, last));
        last = mark(k);
        m.unlock();
      });
    }
    expect((await k.run(seededDecisions(seed))).status).toBe('done');
    expect(seen).toEqual([true]);
  });

  test.prop([fc.integer()], { numRuns: 30 })('should not order accesses under two different mutexes', async (seed) => {
    const k = new Kernel();
    k.sched.trackHappensBefore();
    const locks = [k.mutex('a'), k.mutex('b')];
    const seen: boolean[] = [];
    let last: Mark | null = null;
    for (let i = 0; i < 2; i++) {
      const m = locks[i] as ReturnType<Kernel['mutex']>;
      k.spawn(`t${i}`, 'cpu', async () => {
        await m.lock();
        if (last !== null) seen.push(ordered(k, last));
        last = mark(k);
        m.unlock();
      });
    }
    expect((await k.run(seededDecisions(seed))).status).toBe('done');
    expect(seen).toEqual([false]);
  });

  it('should not order an access made after unlock before the next holder', async () => {
    const k = new Kernel();
    k.sched.trackHappensBefore();
    const m = k.mutex('m');
    const done = k.completion('first done');
    let after: Mark | null = null;
    let inside: Mark | null = null;
    const seen: boolean[] = [];
    k.spawn('first', 'cpu', async () => {
      await m.lock();
      inside = mark(k);
      m.unlock();
      after = mark(k);
      done.completeAll();
    });
    k.spawn('second', 'cpu', async () => {
      await m.lock();
      if (inside !== null && after !== null) seen.push(ordered(k, inside), ordered(k, after));
      m.unlock();
      await done.waitForCompletion();
      if (after !== null) seen.push(ordered(k, after));
    });
    expect((await k.run(seededDecisions(3))).status).toBe('done');
    // Under the lock: ordered; after the unlock: not, until the completion orders it.
    if (seen.length === 3) expect(seen).toEqual([true, false, true]);
    else expect(seen).toEqual([true]);
  });

  it('should order a set_seq before the read_retry that sees it, and not before one that does not', async () => {
    const k = new Kernel();
    k.sched.trackHappensBefore();
    const mm = k.createMm();
    const sub = new MmuIntervalNotifier('sub');
    const seen: boolean[] = [];
    k.spawn('insert', 'cpu', async () => {
      await mmuIntervalNotifierInsert(sub, mm, 0, 0x1000, { invalidate: () => true });
      const seq = await mmuIntervalReadBegin(sub);
      let before: Mark | null = null;
      const writer = k.spawn('writer', 'cpu', () => {
        before = mark(k);
        mmuIntervalSetSeq(sub, seq + 1);
      });
      expect(writer.id).toBeGreaterThan(0);
      expect(mmuIntervalReadRetry(sub, seq)).toBe(false);
      await k.yieldPoint();
      while (before === null) await k.yieldPoint();
      expect(mmuIntervalReadRetry(sub, seq)).toBe(true);
      seen.push(ordered(k, before));
    });
    expect((await k.run(seededDecisions(1))).status).toBe('done');
    expect(seen).toEqual([true]);
  });
});
