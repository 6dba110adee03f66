/**
 * Driver code that fails: the runner returns, and the run says which callback failed and how.
 */
import { firstRunnable, type Kernel, MmuIntervalNotifier, mmuIntervalNotifierInsert, ULONG_MAX } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { Device } from './device.js';
import { defineDriver } from './driver.js';
import { runScenario } from './runner.js';
import type { Scenario } from './scenario.js';

type Failure = 'throw' | 'hang' | 'leak';

function failingDriver(how: Failure) {
  return defineDriver({
    name: `fails-by-${how}`,
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'f0' });
      return {
        devices: [dev],
        async bind(mm) {
          const lock = kernel.mutex('f.lock');
          await mmuIntervalNotifierInsert(new MmuIntervalNotifier('fails'), mm, 0, ULONG_MAX - (ULONG_MAX % kernel.pageSize), {
            async invalidate() {
              if (how === 'throw') throw new Error('invalidate exploded');
              if (how === 'hang') await new Promise(() => {});
              await lock.lock();
              return true;
            },
          });
          return { vms: [dev.createVm(mm)] };
        },
      };
    },
  });
}

const scenario: Scenario = {
  regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    {
      kind: 'cpu',
      ops: [
        { op: 'munmap', region: 0, page: 0, pages: 1 },
        { op: 'munmap', region: 0, page: 1, pages: 1 },
      ],
    },
  ],
};

describe('runScenario with failing driver code', () => {
  it('should stop with status error and name the callback that threw', async () => {
    const r = await runScenario(failingDriver('throw'), scenario, { decisions: firstRunnable });
    expect(r.run.status).toBe('error');
    expect(r.run.failedContext).toContain('interval notifier "fails" invalidate');
    expect(r.run.message).toContain('invalidate exploded');
  });

  it('should stop with status hung when a callback awaits a promise that never settles, and return', async () => {
    const r = await runScenario(failingDriver('hang'), scenario, { decisions: firstRunnable });
    expect(r.run.status).toBe('hung');
    expect(r.run.failedContext).toContain('interval notifier "fails" invalidate');
    expect(r.run.message).toContain('no model primitive will settle');
  });

  it('should report a lock held at return, then the deadlock it causes with who holds what', async () => {
    const r = await runScenario(failingDriver('leak'), scenario, { decisions: firstRunnable, trace: 'all' });
    const leaks = r.world.kernel.trace.events().filter((e) => e.type === 'lock-leak');
    expect(leaks[0]).toMatchObject({ context: expect.stringContaining('interval notifier "fails" invalidate'), locks: ['f.lock'] });
    expect(r.run.status).toBe('deadlock');
    expect(r.run.message).toMatch(/waits for f\.lock held by cpu0#\d+/);
  });
});
