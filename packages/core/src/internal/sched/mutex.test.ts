import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { HmmlabError } from '../errors.js';
import { Kernel } from '../kernel.js';
import { eventsOf } from '../test-helpers.js';
import { arrayDecisions, type DecisionSource, firstRunnable, seededDecisions } from './decisions.js';
import type { RunResult } from './scheduler.js';

describe('Mutex', () => {
  test.prop([fc.integer()], { numRuns: 40 })('should never let two tasks into the critical section', async (seed) => {
    const k = new Kernel();
    const m = k.mutex('m');
    let inside = 0;
    let maxInside = 0;
    for (let t = 0; t < 3; t++) {
      k.spawn(`t${t}`, 'cpu', async () => {
        for (let i = 0; i < 3; i++) {
          await m.lock();
          inside++;
          maxInside = Math.max(maxInside, inside);
          await k.yieldPoint();
          inside--;
          m.unlock();
        }
      });
    }
    const r = await k.run(seededDecisions(seed));
    expect(r.status).toBe('done');
    expect(maxInside).toBe(1);
  });

  it('should hand the lock to waiters in arrival order', async () => {
    const k = new Kernel();
    const m = k.mutex('m');
    const got: string[] = [];
    const held = k.completion('held');
    k.spawn('owner', 'cpu', async () => {
      await m.lock();
      held.completeAll();
      for (let i = 0; i < 5; i++) await k.yieldPoint();
      m.unlock();
    });
    for (const name of ['w1', 'w2', 'w3']) {
      k.spawn(name, 'cpu', async () => {
        await held.waitForCompletion();
        await m.lock();
        got.push(name);
        m.unlock();
      });
    }
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(got).toEqual(['w1', 'w2', 'w3']);
  });

  it('should fail tryLock while another task holds it, without sleeping', async () => {
    const k = new Kernel({ trace: 'all' });
    const m = k.mutex('m');
    const held = k.completion('held');
    const release = k.completion('release');
    let tried: boolean | null = null;
    k.spawn('owner', 'cpu', async () => {
      await m.lock();
      held.complete();
      await release.waitForCompletion();
      m.unlock();
    });
    k.spawn('other', 'cpu', async () => {
      await held.waitForCompletion();
      tried = m.tryLock();
      release.complete();
    });
    await k.run(firstRunnable);
    expect(tried).toBe(false);
    expect(eventsOf(k, 'lock').filter((e) => e.op === 'trylock-fail')).toHaveLength(1);
  });

  it('should take a free lock with tryLock and report it held', async () => {
    const k = new Kernel();
    const m = k.mutex('m');
    let locked = false;
    k.spawn('t', 'cpu', () => {
      locked = m.tryLock() && m.isLocked();
      m.unlock();
    });
    await k.run(firstRunnable);
    expect(locked).toBe(true);
    expect(m.isLocked()).toBe(false);
  });

  it('should throw ERR_NOT_OWNER when a task unlocks a mutex another task holds', async () => {
    const k = new Kernel();
    const m = k.mutex('m');
    const held = k.completion('held');
    k.spawn('owner', 'cpu', async () => {
      await m.lock();
      held.complete();
      await k.msleep(10);
    });
    k.spawn('thief', 'cpu', async () => {
      await held.waitForCompletion();
      m.unlock();
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('error');
    expect((r.error as HmmlabError).code).toBe('ERR_NOT_OWNER');
    expect((r.error as Error).message).toContain('mutex_unlock(m): task thief#2 does not hold it (holder: owner#1)');
  });

  it('should deadlock a task that locks a mutex it already holds', async () => {
    const k = new Kernel();
    const m = k.mutex('m');
    k.spawn('t', 'cpu', async () => {
      await m.lock();
      await m.lock();
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('deadlock');
    expect(r.deadlock[0]).toMatchObject({ waitsFor: 'm', holds: ['m'] });
  });

  describe('tryLock in a non-blockable context', () => {
    /**
     * "holder" takes and drops the lock (unless not `holderTakes`), then stays live for a while;
     * "reaper" trylocks the free lock once (inside a non-blockable interval notifier callback when
     * `atomic`). `outcome` says what the trylock returned or threw once the run is over.
     */
    function trylockWorld(atomic: boolean, holderTakes = true): { k: Kernel; outcome: { got: boolean | null; threw: unknown } } {
      const k = new Kernel();
      const m = k.mutex('m');
      const outcome: { got: boolean | null; threw: unknown } = { got: null, threw: null };
      k.spawn('holder', 'driver', async () => {
        if (holderTakes) {
          await m.lock();
          m.unlock();
        }
        for (let i = 0; i < 4; i++) await k.yieldPoint();
      });
      k.spawn('reaper', 'kernel', async () => {
        await k.yieldPoint();
        const t = k.sched.current;
        // As a non-blockable interval notifier callback runs (notifier/invoke.ts).
        if (atomic) {
          t.atomicDepth++;
          t.contexts.push('interval notifier "n" invalidate, inv #1');
          t.contendable.push(true);
        }
        try {
          outcome.got = m.tryLock();
          if (outcome.got) m.unlock();
        } catch (e) {
          outcome.threw = e;
        }
        if (atomic) {
          t.atomicDepth--;
          t.contexts.pop();
          t.contendable.pop();
        }
      });
      return { k, outcome };
    }

    /** Runs {@link trylockWorld} under `decisions` to the end. Returns what the trylock returned. */
    async function trylockOnce(decisions: DecisionSource, atomic: boolean, holderTakes = true): Promise<{ got: boolean; log: number[] }> {
      const { k, outcome } = trylockWorld(atomic, holderTakes);
      const r = await k.run(decisions);
      expect(r.status).toBe('done');
      expect(outcome.threw).toBeNull();
      return { got: outcome.got === true, log: r.decisions };
    }

    const SEEDS = Array.from({ length: 12 }, (_, i) => i + 1);

    it('should fail on some schedules when another live task has taken the lock, as a recorded decision that replays', async () => {
      const runs: { got: boolean; log: number[] }[] = [];
      for (const seed of SEEDS) runs.push(await trylockOnce(seededDecisions(seed), true));
      expect(runs.some((r) => r.got)).toBe(true);
      expect(runs.some((r) => !r.got)).toBe(true);
      for (const r of runs) expect((await trylockOnce(arrayDecisions(r.log), true)).got).toBe(r.got);
    });

    /**
     * {@link trylockWorld} in a non-blockable callback, run with "holder" first for three turns,
     * then "reaper" whenever it can; at the trylock's own decision the source answers `answer`.
     */
    function answerAtTrylock(answer: number): { run: Promise<RunResult>; outcome: { got: boolean | null; threw: unknown } } {
      const { k, outcome } = trylockWorld(true);
      let picks = 0;
      const run = k.run({ pick: (c) => (k.sched.current.atomicDepth > 0 ? answer : picks++ < 3 ? 0 : c.length - 1) });
      return { run, outcome };
    }

    it("should end the run at a trylock's decision that is -1, without failing the task in the callback", async () => {
      const { run, outcome } = answerAtTrylock(-1);
      const r = await run;
      expect(outcome).toEqual({ got: true, threw: null });
      expect(r.status).toBe('stopped');
      expect(r.message).toContain('the decision source ended the run (pick returned -1 among 2 tasks)');
      expect(r.error).toBeNull();
    });

    it("should reject the run at a trylock's decision that is no index, rather than throw into the callback", async () => {
      const { run, outcome } = answerAtTrylock(7);
      await expect(run).rejects.toThrow(
        /^DecisionSource\.pick: returned 7 at step \d+; expected an index in \[0, 2\), or -1 to end the run$/,
      );
      expect(outcome.threw).toBeNull();
    });

    it('should never fail on a free lock outside a non-blockable context, or when no other task has taken it', async () => {
      for (const seed of SEEDS) {
        expect((await trylockOnce(seededDecisions(seed), false)).got).toBe(true);
        expect((await trylockOnce(seededDecisions(seed), true, false)).got).toBe(true);
      }
    });
  });
});

describe('SpinLock', () => {
  it('should take and drop a free lock without a preemption point, tracing both as a mutex does', async () => {
    const k = new Kernel({ trace: 'all' });
    const l = k.spinlock('mmu_lock');
    const seen: boolean[] = [];
    k.spawn('t', 'driver', async () => {
      l.lock();
      seen.push(l.isLocked(), l.holders()[0] === k.sched.current);
      l.unlock();
      seen.push(l.isLocked());
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(seen).toEqual([true, true, false]);
    expect(eventsOf(k, 'lock').map((e) => `${e.lock} ${e.op}`)).toEqual(['mmu_lock acquire', 'mmu_lock release']);
  });

  it('should throw, naming the holder, when the holder awaited with the lock held; and its fixed twin should pass', async () => {
    for (const yieldsHolding of [true, false]) {
      const k = new Kernel();
      const l = k.spinlock('mmu_lock');
      let threw: unknown = null;
      k.spawn('holder', 'driver', async () => {
        l.lock();
        if (yieldsHolding) await k.yieldPoint();
        l.unlock();
        if (!yieldsHolding) await k.yieldPoint();
      });
      k.spawn('taker', 'driver', async () => {
        try {
          l.lock();
          l.unlock();
        } catch (e) {
          threw = e;
        }
      });
      // Round robin: the taker runs while the holder is at its yield.
      await k.run(arrayDecisions([], 'round-robin'));
      if (yieldsHolding) {
        expect((threw as HmmlabError).message).toMatch(
          /^spin_lock\(mmu_lock\): held by task holder#\d+; a spinlock's holder must not await \(sleep or yield\) before spin_unlock$/,
        );
      } else expect(threw).toBeNull();
    }
  });

  it('should throw when a task takes a spinlock it holds, and name spin_unlock when a task drops one it does not hold', async () => {
    const k = new Kernel();
    const l = k.spinlock('s');
    const errors: string[] = [];
    k.spawn('t', 'driver', async () => {
      l.lock();
      try {
        l.lock();
      } catch (e) {
        errors.push((e as Error).message);
      }
      l.unlock();
      try {
        l.unlock();
      } catch (e) {
        errors.push((e as Error).message);
      }
    });
    await k.run(firstRunnable);
    expect(errors).toEqual([
      "spin_lock(s): held by this task, which takes it again (a spinlock does not nest); a spinlock's holder must not await (sleep or yield) before spin_unlock",
      expect.stringMatching(/^spin_unlock\(s\): task t#\d+ does not hold it \(holder: none\); unlock only a lock your task locked$/),
    ]);
  });
});
