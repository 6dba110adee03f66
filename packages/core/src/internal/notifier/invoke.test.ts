import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { firstRunnable } from '../sched/decisions.js';
import { DriverCallbackError } from '../sched/scheduler.js';
import { eventsOf } from '../test-helpers.js';
import { type InvokeFacts, invokeDriver } from './invoke.js';

describe('invokeDriver', () => {
  it('should report the locks a callback returns holding', async () => {
    const k = new Kernel({ trace: 'all' });
    const m = k.mutex('driver lock');
    const facts: InvokeFacts = { leaked: [] };
    k.spawn('t', 'driver', () => invokeDriver(k.sched, 'cb', false, () => m.lock(), facts));
    await k.run(firstRunnable);
    expect(facts.leaked).toEqual(['driver lock']);
    expect(eventsOf(k, 'lock-leak')).toEqual([expect.objectContaining({ context: 'cb', locks: ['driver lock'] })]);
  });

  it('should report the error of a callback that throws holding a lock, not the lock', async () => {
    const k = new Kernel({ trace: 'all' });
    const m = k.mutex('driver lock');
    const facts: InvokeFacts = { leaked: [] };
    let thrown: unknown = null;
    k.spawn('t', 'driver', async () => {
      try {
        await invokeDriver(
          k.sched,
          'cb',
          false,
          async () => {
            await m.lock();
            throw new Error('oops');
          },
          facts,
        );
      } catch (e) {
        thrown = e;
      }
    });
    await k.run(firstRunnable);
    expect(thrown).toMatchObject({ name: 'DriverCallbackError', context: 'cb' });
    expect(facts.leaked).toEqual(['driver lock']);
    expect(eventsOf(k, 'lock-leak')).toEqual([]);
  });

  it('should name the callback on the task while it runs, and make an atomic context non-sleeping', async () => {
    const k = new Kernel({ trace: 'all' });
    const seen: [string[], number][] = [];
    k.spawn('t', 'driver', () =>
      invokeDriver(k.sched, 'atomic cb', true, async () => {
        seen.push([k.sched.current.contexts.slice(), k.sched.current.atomicDepth]);
        await k.msleep(1);
      }),
    );
    await k.run(firstRunnable);
    expect(seen).toEqual([[['atomic cb'], 1]]);
    expect(k.sched.allTasks()[0]?.contexts).toEqual([]);
    expect(eventsOf(k, 'sleep-in-atomic')).toEqual([expect.objectContaining({ context: 'atomic cb' })]);
  });

  it('should wrap what a callback throws in a DriverCallbackError naming it, once', async () => {
    const inner = invokeDriver(new Kernel().sched, 'inner', false, () => {
      throw new Error('x');
    });
    await expect(inner).rejects.toMatchObject({ name: 'DriverCallbackError', context: 'inner' });
    const k = new Kernel();
    const outer = invokeDriver(k.sched, 'outer', false, () =>
      invokeDriver(k.sched, 'inner', false, () => {
        throw new Error('x');
      }),
    );
    await expect(outer).rejects.toBeInstanceOf(DriverCallbackError);
    await expect(outer).rejects.toMatchObject({ context: 'inner' });
  });
});
