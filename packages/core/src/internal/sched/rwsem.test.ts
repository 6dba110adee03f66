import { describe, expect, it } from 'vitest';
import type { HmmlabError } from '../errors.js';
import { Kernel } from '../kernel.js';
import { firstRunnable, seededDecisions } from './decisions.js';

describe('RwSemaphore', () => {
  it('should let several readers hold it at once', async () => {
    const k = new Kernel();
    const s = k.rwsem('s');
    const wq = k.waitQueue('all in');
    let inside = 0;
    let maxReaders = 0;
    for (const name of ['r1', 'r2', 'r3']) {
      k.spawn(name, 'cpu', async () => {
        await s.downRead();
        inside++;
        maxReaders = Math.max(maxReaders, s.readers.length);
        wq.wakeUpAll();
        await wq.waitEvent(() => inside === 3);
        s.upRead();
      });
    }
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(maxReaders).toBe(3);
  });

  it('should keep readers out while a writer holds it', async () => {
    const k = new Kernel();
    const s = k.rwsem('s');
    const log: string[] = [];
    const held = k.completion('held');
    k.spawn('w', 'cpu', async () => {
      await s.downWrite();
      held.complete();
      log.push('w-in');
      for (let i = 0; i < 3; i++) await k.yieldPoint();
      log.push('w-out');
      s.upWrite();
    });
    k.spawn('r', 'cpu', async () => {
      await held.waitForCompletion();
      await s.downRead();
      log.push('r-in');
      s.upRead();
    });
    await k.run({ pick: (c) => c.length - 1 });
    expect(log).toEqual(['w-in', 'w-out', 'r-in']);
  });

  it('should not let a new reader overtake a queued writer', async () => {
    const k = new Kernel();
    const s = k.rwsem('s');
    const order: string[] = [];
    const r1Held = k.completion('r1 held');
    const wQueued = k.completion('w queued');
    k.spawn('r1', 'cpu', async () => {
      await s.downRead();
      r1Held.completeAll();
      await wQueued.waitForCompletion();
      for (let i = 0; i < 3; i++) await k.yieldPoint();
      s.upRead();
    });
    k.spawn('w', 'cpu', async () => {
      await r1Held.waitForCompletion();
      const p = s.downWrite();
      wQueued.completeAll();
      await p;
      order.push('w');
      s.upWrite();
    });
    k.spawn('r2', 'cpu', async () => {
      await wQueued.waitForCompletion();
      await s.downRead();
      order.push('r2');
      s.upRead();
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(order).toEqual(['w', 'r2']);
  });

  it('should fail the trylocks when they would have to wait', async () => {
    const k = new Kernel();
    const s = k.rwsem('s');
    const results: boolean[] = [];
    k.spawn('t', 'cpu', async () => {
      await s.downRead();
      results.push(s.downWriteTrylock());
      results.push(s.downReadTrylock());
      s.upRead();
      s.upRead();
      results.push(s.downWriteTrylock());
      results.push(s.downReadTrylock());
      results.push(s.isWriteHeldByCurrent());
      s.upWrite();
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(results).toEqual([false, true, true, false, true]);
  });

  it.each([
    ['upRead', (s: ReturnType<Kernel['rwsem']>) => s.upRead(), 'up_read(s)'],
    ['upWrite', (s: ReturnType<Kernel['rwsem']>) => s.upWrite(), 'up_write(s)'],
    ['downgradeWrite', (s: ReturnType<Kernel['rwsem']>) => s.downgradeWrite(), 'downgrade_write(s)'],
  ])('should throw ERR_NOT_OWNER from %s without the lock held', (_name, op, api) => {
    const k = new Kernel();
    const s = k.rwsem('s');
    let err: unknown = null;
    try {
      op(s);
    } catch (e) {
      err = e;
    }
    expect((err as HmmlabError).code).toBe('ERR_NOT_OWNER');
    expect((err as Error).message).toContain(api);
  });

  it('should let queued readers in when the writer downgrades', async () => {
    const k = new Kernel();
    const s = k.rwsem('s');
    const log: string[] = [];
    const held = k.completion('held');
    k.spawn('w', 'cpu', async () => {
      await s.downWrite();
      held.complete();
      await k.msleep(10); // r queues behind the writer meanwhile
      s.downgradeWrite();
      log.push(`w sees ${s.readers.length} readers`);
      await k.msleep(10);
      s.upRead();
    });
    k.spawn('r', 'cpu', async () => {
      await held.waitForCompletion();
      await s.downRead();
      log.push(`r-in, writer ${s.writer === null ? 'none' : 'held'}`);
      s.upRead();
    });
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('done');
    expect(log).toEqual(['w sees 2 readers', 'r-in, writer none']);
  });
});

describe('RwSemaphore trylocks in a non-blockable callback', () => {
  /**
   * "holder" takes the semaphore (`mode`) and drops it, then stays live; "reaper" trylocks it once
   * (`want`) inside a non-blockable callback whose trylocks may be contended. Returns, per seed,
   * whether the trylock succeeded.
   */
  async function trylocks(mode: 'read' | 'write', want: 'read' | 'write'): Promise<boolean[]> {
    const out: boolean[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const k = new Kernel();
      const sem = k.rwsem('sem');
      let got = false;
      k.spawn('holder', 'driver', async () => {
        if (mode === 'read') {
          await sem.downRead();
          sem.upRead();
        } else {
          await sem.downWrite();
          sem.upWrite();
        }
        for (let i = 0; i < 4; i++) await k.yieldPoint();
      });
      k.spawn('reaper', 'kernel', async () => {
        await k.yieldPoint();
        const t = k.sched.current;
        t.atomicDepth++;
        t.contexts.push('interval notifier "n" invalidate, inv #1');
        t.contendable.push(true);
        got = want === 'read' ? sem.downReadTrylock() : sem.downWriteTrylock();
        if (got) {
          if (want === 'read') sem.upRead();
          else sem.upWrite();
        }
        t.contendable.pop();
        t.contexts.pop();
        t.atomicDepth--;
      });
      const r = await k.run(seededDecisions(seed));
      expect(r.status).toBe('done');
      out.push(got);
    }
    return out;
  }

  it('should let a read trylock fail on some schedules after another task held it for writing', async () => {
    const got = await trylocks('write', 'read');
    expect(got).toContain(true);
    expect(got).toContain(false);
  });

  it('should never fail a read trylock when other tasks only ever read it', async () => {
    expect(await trylocks('read', 'read')).not.toContain(false);
  });

  it('should let a write trylock fail on some schedules after another task held it for reading', async () => {
    const got = await trylocks('read', 'write');
    expect(got).toContain(true);
    expect(got).toContain(false);
  });
});
