import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { firstRunnable } from './decisions.js';
import { DelayedWork, Work } from './workqueue.js';

describe('Workqueue', () => {
  it('should run queued work in its worker task', async () => {
    const k = new Kernel();
    const wq = k.workqueue('events');
    let ranIn = '';
    const w = new Work('w', () => {
      ranIn = k.sched.current.name;
    });
    let queued: boolean[] = [];
    k.spawn('t', 'cpu', () => {
      queued = [wq.queueWork(w), wq.queueWork(w)];
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(ranIn).toBe('kworker/events');
    expect(queued).toEqual([true, false]);
  });

  it('should not wake a worker blocked inside a work item when more work is queued', async () => {
    const k = new Kernel({ trace: 'all' });
    const wq = k.workqueue('events');
    const m = k.mutex('m');
    const order: string[] = [];
    const first = new Work('first', async () => {
      await m.lock();
      order.push(`first got m, held by ${String(m.owner?.name)}`);
      m.unlock();
    });
    const second = new Work('second', () => {
      order.push('second');
    });
    k.spawn('t', 'cpu', async () => {
      await m.lock();
      wq.queueWork(first);
      // The worker runs and blocks on m.
      await k.msleep(5);
      wq.queueWork(second);
      await k.msleep(5);
      order.push('t unlocks');
      m.unlock();
    });
    const r = await k.run(firstRunnable);
    expect(r.status, r.message).toBe('done');
    expect(order).toEqual(['t unlocks', 'first got m, held by kworker/events', 'second']);
  });

  it('should run delayed work no earlier than its delay, jumping time while idle', async () => {
    const k = new Kernel();
    const wq = k.workqueue('events');
    let queuedAt = -1;
    let ranAt = -1;
    const w = new DelayedWork('restore', () => {
      ranAt = k.jiffies;
    });
    k.spawn('t', 'cpu', () => {
      queuedAt = k.jiffies;
      wq.queueDelayedWork(w, 500);
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(ranAt - queuedAt).toBeGreaterThanOrEqual(500);
    expect(r.steps).toBeLessThan(20);
  });

  it('should re-arm delayed work with modDelayedWork', async () => {
    const k = new Kernel();
    const wq = k.workqueue('events');
    const runs: number[] = [];
    const w = new DelayedWork('w', () => {
      runs.push(k.jiffies);
    });
    let start = 0;
    let wasPending: boolean | null = null;
    k.spawn('t', 'cpu', async () => {
      start = k.jiffies;
      wq.queueDelayedWork(w, 100);
      await k.msleep(50);
      wasPending = wq.modDelayedWork(w, 100);
    });
    await k.run(firstRunnable);
    expect(wasPending).toBe(true);
    expect(runs).toHaveLength(1);
    expect((runs[0] as number) - start).toBeGreaterThanOrEqual(150);
  });

  it('should not run cancelled work', async () => {
    const k = new Kernel();
    const wq = k.workqueue('events');
    let ran = false;
    const w = new DelayedWork('w', () => {
      ran = true;
    });
    const res: boolean[] = [];
    k.spawn('t', 'cpu', () => {
      wq.queueDelayedWork(w, 10);
      res.push(wq.cancel(w), wq.cancel(w));
    });
    await k.run(firstRunnable);
    expect(ran).toBe(false);
    expect(res).toEqual([true, false]);
  });

  it('should run delayed work at once on flushWork', async () => {
    const k = new Kernel();
    const wq = k.workqueue('events');
    let ranAt = -1;
    let flushedAt = -1;
    const w = new DelayedWork('w', () => {
      ranAt = k.jiffies;
    });
    k.spawn('t', 'cpu', async () => {
      wq.queueDelayedWork(w, 10_000);
      await wq.flushWork(w);
      flushedAt = k.jiffies;
    });
    await k.run(firstRunnable);
    expect(ranAt).toBeGreaterThan(0);
    expect(ranAt).toBeLessThan(10_000);
    expect(flushedAt).toBeGreaterThanOrEqual(ranAt);
  });

  it('should wait in flush until every queued work has run', async () => {
    const k = new Kernel();
    const wq = k.workqueue('events');
    const log: string[] = [];
    k.spawn('t', 'cpu', async () => {
      for (const n of ['a', 'b']) {
        wq.queueWork(
          new Work(n, async () => {
            await k.yieldPoint();
            log.push(n);
          }),
        );
      }
      await wq.flush();
      log.push('flushed');
    });
    await k.run(firstRunnable);
    expect(log).toEqual(['a', 'b', 'flushed']);
  });

  it('should wait in cancelSync for a running instance to finish', async () => {
    const k = new Kernel();
    const wq = k.workqueue('events');
    const log: string[] = [];
    const started = k.completion('started');
    const w = new Work('w', async () => {
      started.complete();
      await k.msleep(20);
      log.push('work done');
    });
    k.spawn('t', 'cpu', async () => {
      wq.queueWork(w);
      await started.waitForCompletion();
      const was = await wq.cancelSync(w);
      log.push(`cancelled ${String(was)}`);
    });
    await k.run(firstRunnable);
    expect(log).toEqual(['work done', 'cancelled false']);
  });

  it.each([[-1], [1.5]])('should refuse the delay %s', (delay) => {
    const k = new Kernel();
    const wq = k.workqueue('events');
    expect(() => wq.queueDelayedWork(new DelayedWork('w', () => {}), delay)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });
});
