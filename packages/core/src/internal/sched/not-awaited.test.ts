/**
 * A wait whose promise the driver does not await: its code goes on while the scheduler runs
 * another task, and what it does would be credited to that task. The run ends in `error`,
 * blaming the task whose wait was dropped; each case has a twin that awaits and passes.
 */
import { describe, expect, it } from 'vitest';
import type { HmmlabError } from '../errors.js';
import { Kernel } from '../kernel.js';
import { invokeDriver } from '../notifier/invoke.js';
import { firstRunnable } from './decisions.js';
import type { RunResult } from './scheduler.js';
import { Work } from './workqueue.js';

type Completion = ReturnType<Kernel['completion']>;

/** A kernel and a completion, `flush done`, that {@link signaller} completes. */
function world(): { k: Kernel; done: Completion } {
  const k = new Kernel();
  return { k, done: k.completion('flush done') };
}

/** Spawned after the task under test (which `firstRunnable` runs first): completes `done` once it runs. */
function signaller(k: Kernel, done: Completion): void {
  k.spawn('signaller', 'device', async () => {
    await k.yieldPoint();
    done.complete();
  });
}

function expectNotAwaited(r: RunResult, task: string, text: string): void {
  expect(r.status).toBe('error');
  expect((r.error as HmmlabError).code).toBe('ERR_NOT_AWAITED');
  expect(r.failedTask?.name).toBe(task);
  expect((r.error as Error).message).toContain(text);
  expect((r.error as Error).message).toContain('was not awaited at once');
}

describe('a wait that is not awaited', () => {
  it('should blame the task whose two waits are combined by Promise.all and not awaited', async () => {
    const { k, done } = world();
    const other = k.completion('other flush');
    k.spawn('notifier', 'cpu', () => {
      void Promise.all([done.waitForCompletion(), other.waitForCompletion()]);
    });
    signaller(k, done);
    const r = await k.run(firstRunnable);
    expectNotAwaited(
      r,
      'notifier',
      'the code of task notifier#1 went on after it blocked on flush done, and reached a wait on other flush',
    );
  });

  it('should blame the task even when the combined waits are awaited: a thread waits for one thing at a time', async () => {
    const { k, done } = world();
    const other = k.completion('other flush');
    k.spawn('notifier', 'cpu', async () => {
      await Promise.all([done.waitForCompletion(), other.waitForCompletion()]);
    });
    signaller(k, done);
    signaller(k, other);
    const r = await k.run(firstRunnable);
    expectNotAwaited(
      r,
      'notifier',
      'the code of task notifier#1 went on after it blocked on flush done, and reached a wait on other flush',
    );
    expect((r.error as Error).message).toContain('one after the other');
  });

  it('should pass when the same waits are awaited one after the other', async () => {
    const { k, done } = world();
    const other = k.completion('other flush');
    k.spawn('notifier', 'cpu', async () => {
      await done.waitForCompletion();
      await other.waitForCompletion();
    });
    signaller(k, done);
    signaller(k, other);
    expect((await k.run(firstRunnable)).status).toBe('done');
  });

  it("should name the task's own code when it unlocks its lock past a dropped wait", async () => {
    const { k, done } = world();
    const m = k.mutex('notifier lock');
    k.spawn('notifier', 'cpu', async () => {
      await m.lock();
      void done.waitForCompletion();
      m.unlock();
    });
    signaller(k, done);
    const r = await k.run(firstRunnable);
    expectNotAwaited(
      r,
      'notifier',
      'the code of task notifier#1 went on after it blocked on flush done, and reached mutex_unlock(notifier lock)',
    );
  });

  it('should pass when the lock is dropped after the awaited wait', async () => {
    const { k, done } = world();
    const m = k.mutex('notifier lock');
    k.spawn('notifier', 'cpu', async () => {
      await m.lock();
      await done.waitForCompletion();
      m.unlock();
    });
    signaller(k, done);
    expect((await k.run(firstRunnable)).status).toBe('done');
  });

  it('should blame the task whose callback returns while its wait is pending', async () => {
    const { k, done } = world();
    k.spawn('notifier', 'cpu', async () => {
      await invokeDriver(k.sched, 'interval notifier "dev" invalidate', false, () => {
        void done.waitForCompletion();
        return true;
      });
    });
    signaller(k, done);
    const r = await k.run(firstRunnable);
    expectNotAwaited(
      r,
      'notifier',
      'the return of interval notifier "dev" invalidate came while task notifier#1 was still blocked on flush done',
    );
    expect(r.failedContext).toBe('interval notifier "dev" invalidate');
  });

  it('should pass when the callback awaits its wait', async () => {
    const { k, done } = world();
    k.spawn('notifier', 'cpu', async () => {
      await invokeDriver(k.sched, 'interval notifier "dev" invalidate', false, async () => {
        await done.waitForCompletion();
        return true;
      });
    });
    signaller(k, done);
    expect((await k.run(firstRunnable)).status).toBe('done');
  });

  it('should blame a task whose code ends while its wait is pending', async () => {
    const { k, done } = world();
    k.spawn('ioctl', 'cpu', () => {
      void done.waitForCompletion();
    });
    signaller(k, done);
    const r = await k.run(firstRunnable);
    expectNotAwaited(r, 'ioctl', 'the end of its code came while task ioctl#1 was still blocked on flush done');
  });

  it('should blame the worker of a work item that ends while its wait is pending', async () => {
    const { k, done } = world();
    const wq = k.workqueue('events');
    const started = k.completion('work started');
    k.spawn('queuer', 'cpu', () => {
      wq.queueWork(
        new Work('flush work', () => {
          started.complete();
          void done.waitForCompletion();
        }),
      );
    });
    k.spawn('signaller', 'device', async () => {
      await started.waitForCompletion();
      done.complete();
    });
    const r = await k.run(firstRunnable);
    expectNotAwaited(r, 'kworker/events', 'the end of work flush work came while task kworker/events#3 was still blocked on flush done');
  });

  it('should pass when the work item awaits its wait', async () => {
    const { k, done } = world();
    const wq = k.workqueue('events');
    const started = k.completion('work started');
    k.spawn('queuer', 'cpu', () => {
      wq.queueWork(
        new Work('flush work', async () => {
          started.complete();
          await done.waitForCompletion();
        }),
      );
    });
    k.spawn('signaller', 'device', async () => {
      await started.waitForCompletion();
      done.complete();
    });
    expect((await k.run(firstRunnable)).status).toBe('done');
  });

  it('should tell the code of a task that went on in a later microtask from the running task', async () => {
    const { k, done } = world();
    let stray: boolean | null = null;
    k.spawn('ioctl', 'cpu', async () => {
      const wait = done.waitForCompletion();
      // Not awaited yet: this code goes on, a microtask later, while the signaller runs.
      await Promise.resolve();
      stray = k.sched.strayCode('a probe');
      await wait;
    });
    k.spawn('signaller', 'device', async () => {
      for (let i = 0; i < 3; i++) await k.yieldPoint();
      done.complete();
    });
    const r = await k.run(firstRunnable);
    expect(stray).toBe(true);
    expectNotAwaited(r, 'ioctl', 'the code of task ioctl#1 went on after it blocked on flush done, and reached a probe');
    expect((r.error as Error).message).toContain('while task signaller#2 was running');
  });

  it("should find a task's own code its own when it awaits its wait", async () => {
    const { k, done } = world();
    let stray: boolean | null = null;
    k.spawn('ioctl', 'cpu', async () => {
      await done.waitForCompletion();
      await Promise.resolve();
      stray = k.sched.strayCode('a probe');
    });
    k.spawn('signaller', 'device', async () => {
      for (let i = 0; i < 3; i++) await k.yieldPoint();
      done.complete();
    });
    expect((await k.run(firstRunnable)).status).toBe('done');
    expect(stray).toBe(false);
  });
});
