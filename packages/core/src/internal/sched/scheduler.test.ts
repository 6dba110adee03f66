import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { HmmlabError } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import { eventsOf, mapAnon } from '../test-helpers.js';
import { arrayDecisions, firstRunnable, seededDecisions } from './decisions.js';
import { DriverCallbackError, HeldLocks, type OwnedLock, SignalError, yieldPoint } from './scheduler.js';

describe('Scheduler.run', () => {
  it('should end with status done once every task has finished', async () => {
    const k = new Kernel();
    const order: string[] = [];
    k.spawn('a', 'cpu', async () => {
      order.push('a');
      await k.yieldPoint();
      order.push('a2');
    });
    k.spawn('b', 'cpu', () => {
      order.push('b');
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(r.message).toMatch(/run finished after \d+ steps/);
    expect(order.sort()).toEqual(['a', 'a2', 'b']);
  });

  it('should interleave tasks only at await points, as the decisions choose', async () => {
    const k = new Kernel();
    const order: string[] = [];
    for (const name of ['a', 'b']) {
      k.spawn(name, 'cpu', async () => {
        order.push(`${name}1`);
        await k.yieldPoint();
        order.push(`${name}2`);
      });
    }
    // Steps: pick a (choice 0), a yields; then pick b (choice 1) while a is runnable.
    const r = await k.run(arrayDecisions([0, 1, 0]));
    expect(r.status).toBe('done');
    expect(order).toEqual(['a1', 'b1', 'a2', 'b2']);
  });

  it('should report a deadlock with who waits for what and who holds it', async () => {
    const k = new Kernel();
    const a = k.mutex('lock A');
    const b = k.mutex('lock B');
    const aHeld = k.completion('a held');
    const bHeld = k.completion('b held');
    k.spawn('t1', 'cpu', async () => {
      await a.lock();
      aHeld.complete();
      await bHeld.waitForCompletion();
      await b.lock();
    });
    k.spawn('t2', 'cpu', async () => {
      await b.lock();
      bHeld.complete();
      await aHeld.waitForCompletion();
      await a.lock();
    });
    const r = await k.run(seededDecisions(7));
    expect(r.status).toBe('deadlock');
    const byTask = new Map(r.deadlock.map((d) => [d.task.name, d]));
    expect(byTask.get('t1')).toMatchObject({ waitsFor: 'lock B', holds: ['lock A'] });
    expect(byTask.get('t1')?.heldBy.map((t) => t.name)).toEqual(['t2']);
    expect(byTask.get('t2')).toMatchObject({ waitsFor: 'lock A', holds: ['lock B'] });
    expect(r.message).toContain('t1#1 waits for lock B held by t2#2');
  });

  it('should report a task awaiting a promise that never settles as hung', async () => {
    const k = new Kernel();
    k.spawn('sleeper', 'driver', async () => {
      await new Promise(() => {});
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('hung');
    expect(r.failedTask?.name).toBe('sleeper');
    expect(r.message).toContain('is hung');
  });

  it('should stop with status error and the thrown value when a task throws', async () => {
    const k = new Kernel();
    const boom = new Error('boom');
    k.spawn('thrower', 'cpu', () => {
      throw boom;
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('error');
    expect(r.error).toBe(boom);
    expect(r.failedTask?.name).toBe('thrower');
    expect(r.message).toContain('boom');
  });

  it('should name the driver callback that threw in failedContext', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const sub = new MmuIntervalNotifier('mirror');
    k.spawn('cpu', 'cpu', async () => {
      const a = await mapAnon(mm, 2);
      await mmuIntervalNotifierInsert(sub, mm, a, 2 * k.pageSize, {
        invalidate() {
          throw new Error('device on fire');
        },
      });
      await mm.munmap(a, 2 * k.pageSize);
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('error');
    expect(r.error).toBeInstanceOf(DriverCallbackError);
    expect(r.failedContext).toMatch(/^interval notifier "mirror" invalidate, inv #\d+$/);
    expect(r.message).toContain('device on fire');
  });

  it('should end the thread but not the run on a SignalError', async () => {
    const k = new Kernel();
    let after = false;
    k.spawn('segv', 'cpu', () => {
      throw new SignalError('SIGSEGV', 0x1000, 'SIGSEGV: read at 0x1000');
    });
    k.spawn('other', 'cpu', async () => {
      await k.yieldPoint();
      after = true;
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(after).toBe(true);
    expect(k.sched.allTasks()[0]?.outcome).toBe('signal');
  });

  it('should stop at the step limit when a task never finishes', async () => {
    const k = new Kernel();
    k.spawn('spinner', 'cpu', async () => {
      for (;;) await k.yieldPoint();
    });
    const r = await k.run(firstRunnable, { maxSteps: 50 });
    expect(r.status).toBe('step-limit');
    expect(r.steps).toBe(50);
  });

  it('should record the decisions that replay the same run', async () => {
    const build = (): { k: Kernel; order: string[] } => {
      const k = new Kernel();
      const order: string[] = [];
      for (const name of ['a', 'b', 'c']) {
        k.spawn(name, 'cpu', async () => {
          for (let i = 0; i < 3; i++) {
            order.push(`${name}${i}`);
            await k.yieldPoint();
          }
        });
      }
      return { k, order };
    };
    const first = build();
    const r1 = await first.k.run(seededDecisions(42));
    const second = build();
    const r2 = await second.k.run(arrayDecisions(r1.decisions));
    expect(r2.decisions).toEqual(r1.decisions);
    expect(second.order).toEqual(first.order);
  });

  it.each([5, 1.5, Number.NaN, -2])('should reject the run, blaming no task, when a decision source returns %s', async (bad) => {
    const k = new Kernel();
    let ran = 0;
    k.spawn('a', 'cpu', async () => {
      await k.yieldPoint();
      ran++;
    });
    k.spawn('b', 'cpu', () => k.yieldPoint());
    const err = await k.run({ pick: () => bad }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HmmlabError);
    expect((err as HmmlabError).code).toBe('ERR_BAD_ARGUMENT');
    expect((err as HmmlabError).message).toBe(
      `DecisionSource.pick: returned ${String(bad)} at step 1; expected an index in [0, 2), or -1 to end the run`,
    );
    expect(ran).toBe(0);
  });

  it('should end the run with status stopped when a decision source returns -1', async () => {
    const k = new Kernel();
    const done: string[] = [];
    k.spawn('a', 'cpu', async () => {
      await k.yieldPoint();
      done.push('a');
    });
    k.spawn('b', 'cpu', async () => {
      await k.yieldPoint();
      done.push('b');
    });
    let picks = 0;
    const r = await k.run({ pick: () => (picks++ < 1 ? 0 : -1) });
    expect(r).toMatchObject({ status: 'stopped', failedTask: null, error: null, decisions: [0] });
    expect(r.message).toBe(`run stopped at step ${r.steps}: the decision source ended the run (pick returned -1 among 2 tasks)`);
    expect(done).toEqual([]);
  });

  it('should refuse to run a scheduler twice', async () => {
    const k = new Kernel();
    await k.run(firstRunnable);
    expect(() => k.run(firstRunnable)).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => k.spawn('late', 'cpu', () => {})).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
  });

  it('should refuse a maxSteps that is not a positive integer', () => {
    const k = new Kernel();
    expect(() => k.run(firstRunnable, { maxSteps: 0 })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });

  it.each([
    ['nothing', undefined],
    ['an array of choices', [0, 1]],
    ['an object without pick', {}],
  ])('should refuse %s as the decisions before any task runs', (_what, decisions) => {
    const k = new Kernel();
    let ran = false;
    k.spawn('a', 'cpu', () => {
      ran = true;
    });
    expect(() => k.run(decisions as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/decisions .* pick\(candidates, step\)/) }),
    );
    expect(ran).toBe(false);
  });

  it('should let a task spawn other tasks during the run', async () => {
    const k = new Kernel({ trace: 'all' });
    let childRan = false;
    k.spawn('parent', 'cpu', () => {
      k.spawn('child', 'cpu', () => {
        childRan = true;
      });
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(childRan).toBe(true);
    expect(eventsOf(k, 'task-spawn').map((e) => e.name)).toEqual(['parent', 'child']);
  });

  test.prop([fc.integer()], { numRuns: 30 })('should run to completion under any seed', async (seed) => {
    const k = new Kernel();
    let total = 0;
    for (let t = 0; t < 3; t++) {
      k.spawn(`t${t}`, 'cpu', async () => {
        for (let i = 0; i < 4; i++) {
          total++;
          await k.yieldPoint();
        }
      });
    }
    const r = await k.run(seededDecisions(seed));
    expect(r.status).toBe('done');
    expect(total).toBe(12);
  });
});

describe("Kernel.jiffies (the running task's clock)", () => {
  /** Runs the task named `first` while it is runnable and `started()` is false, then prefers the others. */
  const startThenStarve = (first: string, started: () => boolean) => ({
    pick(c: readonly { name: string }[]) {
      const i = started() ? c.findIndex((t) => t.name !== first) : c.findIndex((t) => t.name === first);
      return Math.max(i, 0);
    },
  });

  it('should not count the steps a runnable task waited while another ran', async () => {
    const k = new Kernel();
    let seen = -1;
    let globalSeen = -1;
    let started = false;
    k.spawn('loop', 'device', async () => {
      started = true;
      const t0 = k.jiffies;
      const g0 = k.sched.now;
      await k.yieldPoint();
      seen = k.jiffies - t0;
      globalSeen = k.sched.now - g0;
    });
    k.spawn('busy', 'device', async () => {
      for (let i = 0; i < 50; i++) await k.yieldPoint();
    });
    const r = await k.run(startThenStarve('loop', () => started));
    expect(r.status).toBe('done');
    expect(globalSeen).toBeGreaterThan(50);
    expect(seen).toBeLessThanOrEqual(2);
  });

  it("should count the task's own steps, whatever else runs", async () => {
    const k = new Kernel();
    let seen = -1;
    k.spawn('loop', 'device', async () => {
      const t0 = k.jiffies;
      for (let i = 0; i < 50; i++) await k.yieldPoint();
      seen = k.jiffies - t0;
    });
    k.spawn('busy', 'device', async () => {
      for (let i = 0; i < 50; i++) await k.yieldPoint();
    });
    const r = await k.run(seededDecisions(3));
    expect(r.status).toBe('done');
    expect(seen).toBeGreaterThanOrEqual(50);
  });

  it('should count the time a task blocks on a lock another holds', async () => {
    const k = new Kernel();
    const m = k.mutex('m');
    let seen = -1;
    let locked = false;
    k.spawn('holder', 'device', async () => {
      await m.lock();
      locked = true;
      for (let i = 0; i < 50; i++) await k.yieldPoint();
      m.unlock();
    });
    k.spawn('waiter', 'device', async () => {
      const t0 = k.jiffies;
      await m.lock();
      seen = k.jiffies - t0;
      m.unlock();
    });
    const r = await k.run(startThenStarve('holder', () => locked));
    expect(r.status).toBe('done');
    expect(seen).toBeGreaterThanOrEqual(50);
  });
});

describe('Scheduler.sleep', () => {
  it('should wake a sleeper no earlier than its deadline', async () => {
    const k = new Kernel();
    let woke = -1;
    let start = -1;
    k.spawn('s', 'kernel', async () => {
      start = k.jiffies;
      await k.msleep(100);
      woke = k.jiffies;
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(woke - start).toBeGreaterThanOrEqual(100);
  });

  it('should jump model time forward when every task sleeps', async () => {
    const k = new Kernel();
    k.spawn('s', 'kernel', () => k.msleep(1_000_000));
    const r = await k.run(firstRunnable);
    expect(r.time).toBeGreaterThanOrEqual(1_000_000);
    expect(r.steps).toBeLessThan(10);
  });

  it('should wake sleepers in deadline order', async () => {
    const k = new Kernel();
    const order: string[] = [];
    k.spawn('late', 'kernel', async () => {
      await k.msleep(50);
      order.push('late');
    });
    k.spawn('early', 'kernel', async () => {
      await k.msleep(10);
      order.push('early');
    });
    await k.run(firstRunnable);
    expect(order).toEqual(['early', 'late']);
  });

  it('should record sleep-in-atomic when a non-blockable context sleeps', async () => {
    const k = new Kernel({ trace: 'all' });
    k.spawn('s', 'kernel', async () => {
      const t = k.sched.current;
      t.contexts.push('atomic test');
      t.atomicDepth++;
      await k.msleep(1);
      t.atomicDepth--;
      t.contexts.pop();
    });
    await k.run(firstRunnable);
    expect(eventsOf(k, 'sleep-in-atomic')).toEqual([expect.objectContaining({ what: 'msleep', context: 'atomic test' })]);
  });
});

describe('yieldPoint', () => {
  it('should resolve at once outside a run', async () => {
    await expect(yieldPoint()).resolves.toBeUndefined();
  });
});

describe('park', () => {
  it('should refuse to block outside a task', async () => {
    const k = new Kernel();
    const wq = k.waitQueue('wq');
    await expect(wq.waitEvent(() => false)).rejects.toMatchObject({ code: 'ERR_NO_TASK' });
  });

  it('should halt, not throw, a wait once the run has ended', async () => {
    const k = new Kernel();
    const wq = k.waitQueue('wq');
    k.spawn('t', 'cpu', () => undefined);
    await k.run(firstRunnable);
    const wait = wq
      .waitEvent(() => false)
      .then(
        () => 'settled',
        () => 'threw',
      );
    const tick = new Promise((res) => setTimeout(() => res('pending'), 10));
    await expect(Promise.race([wait, tick])).resolves.toBe('pending');
  });
});

describe('HeldLocks', () => {
  /** Plain locks (a rwsem may be held twice) and owned locks (a page lock), by index. */
  const plain = Array.from({ length: 4 }, (_, i) => ({ name: `lock ${i}`, holders: () => [] }));
  const owned: OwnedLock[] = Array.from({ length: 4 }, (_, i) => ({
    name: `page ${i}`,
    holders: () => [],
    heldSeq: -1,
    heldPrev: null,
    heldNext: null,
  }));

  test.prop([fc.array(fc.tuple(fc.boolean(), fc.boolean(), fc.nat(3)), { maxLength: 200 })], { numRuns: 300 })(
    'should list the locks held in acquisition order, owned or not, as a table of holds does',
    (ops) => {
      for (const o of owned) o.heldSeq = -1;
      const held = new HeldLocks();
      // The reference: every distinct lock held, oldest first, with its holds and its mark.
      const ref: { name: string; n: number; seq: number }[] = [];
      const marks: number[] = [];
      for (const [add, isOwned, i] of ops) {
        const lock = isOwned ? (owned[i] as (typeof owned)[number]) : (plain[i] as (typeof plain)[number]);
        const at = ref.findIndex((r) => r.name === lock.name);
        if (add) {
          if (isOwned && at >= 0) continue; // an owned lock is held at most once
          if (at >= 0) (ref[at] as { n: number }).n++;
          else ref.push({ name: lock.name, n: 1, seq: held.mark() });
          if (isOwned) held.addOwned(lock as (typeof owned)[number]);
          else held.add(lock);
          marks.push(held.mark());
        } else {
          if (at >= 0 && --(ref[at] as { n: number }).n === 0) ref.splice(at, 1);
          if (isOwned) held.removeOwned(lock as (typeof owned)[number]);
          else held.remove(lock);
        }
        expect(held.names()).toEqual(ref.map((r) => r.name));
      }
      for (const m of marks) expect(held.takenSince(m)).toEqual(ref.filter((r) => r.seq >= m).map((r) => r.name));
    },
  );

  // A page lock is not tied to a task: one task releases it, another takes it. The second hold
  // links the lock into the other task's list, and the first task's list must not show it again.
  it('should not count as held a page lock another task took after this one released it', () => {
    const [q, p] = owned as [(typeof owned)[number], (typeof owned)[number]];
    q.heldSeq = -1;
    p.heldSeq = -1;
    const a = new HeldLocks();
    const b = new HeldLocks();
    a.addOwned(q);
    a.addOwned(p);
    a.removeOwned(p);
    b.add(plain[0] as (typeof plain)[number]);
    b.addOwned(p);
    expect(a.names()).toEqual([q.name]);
    expect(b.names()).toEqual([(plain[0] as (typeof plain)[number]).name, p.name]);
  });
});
