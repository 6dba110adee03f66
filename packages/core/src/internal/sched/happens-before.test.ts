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
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_CLEAR } from '../notifier/range.js';
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

  it.each([false, true])(
    'should not order a set_seq before the read_retry that sees it: only a lock held around both does (locked %s)',
    async (locked) => {
      const k = new Kernel();
      k.sched.trackHappensBefore();
      const mm = k.createMm();
      const m = k.mutex('driver');
      const sub = new MmuIntervalNotifier('sub');
      const seen: boolean[] = [];
      k.spawn('insert', 'cpu', async () => {
        await mmuIntervalNotifierInsert(sub, mm, 0, 0x1000, { invalidate: () => true });
        const seq = await mmuIntervalReadBegin(sub);
        let before: Mark | null = null;
        k.spawn('writer', 'cpu', async () => {
          if (locked) await m.lock();
          before = mark(k);
          mmuIntervalSetSeq(sub, seq + 1);
          if (locked) m.unlock();
        });
        while (before === null) await k.yieldPoint();
        if (locked) await m.lock();
        expect(mmuIntervalReadRetry(sub, seq)).toBe(true);
        seen.push(ordered(k, before));
        if (locked) m.unlock();
      });
      expect((await k.run(seededDecisions(1))).status).toBe('done');
      expect(seen).toEqual([locked]);
    },
  );

  /**
   * An invalidation of [0, 0x1000) by task "inv" whose callback marks, after `set_seq`, what it did,
   * and then lets `reader` run until `reader` sets `waiting`; the invalidation starts once `reader`
   * sets `go` (plain flags: no edge). `reader` gets the marks and the notifier.
   */
  async function invalidationWith(
    seed: number,
    reader: (
      k: Kernel,
      sub: MmuIntervalNotifier,
      marks: { beforeSetSeq: Mark | null; afterSetSeq: Mark | null },
      flag: { go: boolean; waiting: boolean },
    ) => Promise<void>,
  ): Promise<void> {
    const k = new Kernel();
    k.sched.trackHappensBefore();
    const mm = k.createMm();
    const sub = new MmuIntervalNotifier('sub');
    const marks: { beforeSetSeq: Mark | null; afterSetSeq: Mark | null } = { beforeSetSeq: null, afterSetSeq: null };
    const flag = { go: false, waiting: false };
    k.spawn('setup', 'cpu', async () => {
      await mmuIntervalNotifierInsert(sub, mm, 0, 0x1000, {
        invalidate: async (mni, _range, curSeq) => {
          marks.beforeSetSeq = mark(k);
          mmuIntervalSetSeq(mni, curSeq);
          marks.afterSetSeq = mark(k);
          while (!flag.waiting) await k.yieldPoint();
          await k.yieldPoint();
          return true;
        },
      });
      k.spawn('reader', 'driver', () => reader(k, sub, marks, flag));
      k.spawn('inv', 'cpu', async () => {
        while (!flag.go) await k.yieldPoint();
        const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, 0, 0x1000);
        await mmuNotifierInvalidateRangeStart(range);
        await mmuNotifierInvalidateRangeEnd(range);
      });
    });
    expect((await k.run(seededDecisions(seed))).status).toBe('done');
  }

  it.each([1, 2, 3])(
    'should order what the callback did before the invalidation ended before a read_begin after its set_seq, which sleeps until mn_itree_inv_end or takes subscriptions->lock after it (seed %i)',
    async (seed) => {
      const seen: boolean[] = [];
      await invalidationWith(seed, async (k, sub, marks, flag) => {
        flag.go = true;
        while (marks.afterSetSeq === null) await k.yieldPoint();
        flag.waiting = true;
        // The callback ran set_seq and has not returned: read_begin sleeps until mn_itree_inv_end.
        await mmuIntervalReadBegin(sub);
        if (marks.afterSetSeq !== null) seen.push(ordered(k, marks.afterSetSeq));
      });
      expect(seen).toEqual([true]);
    },
  );

  it.each([1, 2, 3])(
    'should not order the callback before a reader whose read_begin came before its set_seq, even once read_retry sees the sequence move (seed %i)',
    async (seed) => {
      const seen: boolean[] = [];
      await invalidationWith(seed, async (k, sub, marks, flag) => {
        const seq = await mmuIntervalReadBegin(sub);
        flag.go = true;
        while (marks.afterSetSeq === null) await k.yieldPoint();
        if (marks.beforeSetSeq === null || marks.afterSetSeq === null) return;
        seen.push(ordered(k, marks.beforeSetSeq), ordered(k, marks.afterSetSeq));
        expect(mmuIntervalReadRetry(sub, seq)).toBe(true);
        // A plain load of what a WRITE_ONCE stored orders nothing: the driver lock has to.
        seen.push(ordered(k, marks.beforeSetSeq), ordered(k, marks.afterSetSeq));
        flag.waiting = true;
      });
      expect(seen).toEqual([false, false, false, false]);
    },
  );
});

describe('happensBefore through an atomic_t and a completion tested without waiting', () => {
  /**
   * Two workers finish in either order and count themselves out; the waiter passes when the count
   * reaches 0 (`atomic_dec_and_test` + `wake_up_all`). `ordered` says whether both workers' work
   * happens before the waiter's.
   */
  async function countOut(seed: number, ordered: boolean): Promise<boolean[]> {
    const k = new Kernel();
    k.sched.trackHappensBefore();
    const inFlight = k.atomic('in flight', 2);
    const wq = k.waitQueue('done');
    const marks: Mark[] = [];
    const seen: boolean[] = [];
    for (let i = 0; i < 2; i++) {
      k.spawn(`worker${i}`, 'cpu', async () => {
        await k.yieldPoint();
        marks.push(mark(k));
        let last: boolean;
        if (ordered) last = inFlight.decAndTest();
        else {
          inFlight.dec();
          last = inFlight.read() === 0;
        }
        if (last) wq.wakeUpAll();
      });
    }
    k.spawn('waiter', 'cpu', async () => {
      await wq.waitEvent(() => inFlight.read() === 0);
      for (const m of marks) seen.push(happensBefore(m.task.id, m.epoch, k.sched.current));
    });
    expect((await k.run(seededDecisions(seed))).status).toBe('done');
    return seen;
  }

  test.prop([fc.integer()], { numRuns: 30 })(
    "should order every finisher's work before the waiter when each counts out with atomic_dec_and_test (fully ordered)",
    async (seed) => {
      expect(await countOut(seed, true)).toEqual([true, true]);
    },
  );

  test.prop([fc.integer()], { numRuns: 30 })(
    "should order only the last finisher's work when they count out with atomic_dec (unordered) and a read",
    async (seed) => {
      expect(await countOut(seed, false)).toEqual([false, true]);
    },
  );

  it('should order a cmpxchg that succeeds and not one that fails', async () => {
    const k = new Kernel();
    k.sched.trackHappensBefore();
    const a = k.atomic('state');
    let before: Mark | null = null;
    const seen: boolean[] = [];
    k.spawn('first', 'cpu', async () => {
      before = mark(k);
      expect(a.cmpxchg(0, 1)).toBe(0);
    });
    k.spawn('second', 'cpu', async () => {
      while (a.read() === 0) await k.yieldPoint();
      expect(a.cmpxchg(0, 2)).toBe(1);
      seen.push(happensBefore((before as Mark).task.id, (before as Mark).epoch, k.sched.current));
      expect(a.cmpxchg(1, 2)).toBe(1);
      seen.push(happensBefore((before as Mark).task.id, (before as Mark).epoch, k.sched.current));
    });
    expect((await k.run(seededDecisions(1))).status).toBe('done');
    expect(seen).toEqual([false, true]);
  });

  it.each(['tryWaitForCompletion', 'isDone'] as const)(
    'should order what came before complete() before a %s that finds it done, as the completion lock does',
    async (test) => {
      const k = new Kernel();
      k.sched.trackHappensBefore();
      const c = k.completion('bound');
      let before: Mark | null = null;
      const seen: boolean[] = [];
      k.spawn('completer', 'cpu', async () => {
        before = mark(k);
        c.complete();
      });
      k.spawn('tester', 'cpu', async () => {
        while (!c[test]()) await k.yieldPoint();
        seen.push(happensBefore((before as Mark).task.id, (before as Mark).epoch, k.sched.current));
      });
      expect((await k.run(seededDecisions(3))).status).toBe('done');
      expect(seen).toEqual([true]);
    },
  );
});
