import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { firstRunnable } from './decisions.js';

describe('WaitQueue', () => {
  it('should return at once when the condition already holds', async () => {
    const k = new Kernel();
    const wq = k.waitQueue('wq');
    let done = false;
    k.spawn('t', 'cpu', async () => {
      await wq.waitEvent(() => true);
      done = true;
    });
    const r = await k.run(firstRunnable);
    const base = new Kernel();
    base.spawn('t', 'cpu', () => {});
    const rb = await base.run(firstRunnable);
    expect(r.steps).toBe(rb.steps);
    expect(done).toBe(true);
  });

  it('should sleep until a wake-up finds the condition true', async () => {
    const k = new Kernel();
    const wq = k.waitQueue('wq');
    let flag = 0;
    const seen: number[] = [];
    let sleepers = 0;
    k.spawn('waiter', 'cpu', async () => {
      await wq.waitEvent(() => flag === 2);
      seen.push(flag);
    });
    k.spawn('waker', 'cpu', async () => {
      await k.yieldPoint();
      sleepers = wq.active;
      flag = 1;
      wq.wakeUpAll(); // condition still false: the waiter sleeps again
      await k.yieldPoint();
      flag = 2;
      wq.wakeUpAll();
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(sleepers).toBe(1);
    expect(seen).toEqual([2]);
  });

  it('should deadlock when nobody ever wakes the sleeper', async () => {
    const k = new Kernel();
    const wq = k.waitQueue('never');
    k.spawn('t', 'cpu', () => wq.waitEvent(() => false));
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('deadlock');
    expect(r.deadlock[0]?.waitsFor).toBe('never');
  });
});

describe('Completion', () => {
  it('should let one waiter through per complete()', async () => {
    const k = new Kernel();
    const c = k.completion('c');
    let through = 0;
    for (const name of ['a', 'b']) {
      k.spawn(name, 'cpu', async () => {
        await c.waitForCompletion();
        through++;
      });
    }
    k.spawn('completer', 'cpu', () => c.complete());
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('deadlock');
    expect(through).toBe(1);
  });

  it('should let every present and future waiter through after completeAll()', async () => {
    const k = new Kernel();
    const c = k.completion('c');
    let through = 0;
    k.spawn('completer', 'cpu', () => c.completeAll());
    for (const name of ['a', 'b', 'c']) {
      k.spawn(name, 'cpu', async () => {
        await c.waitForCompletion();
        through++;
      });
    }
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(through).toBe(3);
  });

  it('should consume a completion with tryWaitForCompletion and reset with reinit', () => {
    const k = new Kernel();
    const c = k.completion('c');
    expect(c.tryWaitForCompletion()).toBe(false);
    c.complete();
    expect(c.isDone()).toBe(true);
    expect(c.tryWaitForCompletion()).toBe(true);
    expect(c.isDone()).toBe(false);
    c.completeAll();
    c.reinit();
    expect(c.isDone()).toBe(false);
  });
});
