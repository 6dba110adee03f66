import { firstRunnable, type Kernel, MmuNotifier, mmuNotifierRegister, seededDecisions, type TraceEvent } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { Device } from './device.js';
import { defineDriver } from './driver.js';
import { runScenario } from './runner.js';
import type { Scenario } from './scenario.js';

/**
 * A driver that mirrors nothing and whose release notifier sleeps on a mutex: `exit_mmap` calls it
 * before it unmaps anything, so another task may run while the exit is under way.
 */
const bare = defineDriver({
  name: 'bare',
  probe(kernel: Kernel) {
    const dev = new Device(kernel, { name: 'dev0' });
    const lock = kernel.mutex('bare release lock');
    return {
      devices: [dev],
      async bind(mm) {
        const release = async (): Promise<void> => {
          await lock.lock();
          lock.unlock();
        };
        await mmuNotifierRegister(new MmuNotifier({ release }, 'bare'), mm);
        return { vms: [dev.createVm(mm, {})] };
      },
    };
  },
});

const region = { pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' } as const;

/** The run's VMA changes and CPU accesses made after the exit began tearing the address space down. */
function afterExit(events: readonly TraceEvent[]): string[] {
  const exit = events.findIndex((e) => e.type === 'vma' && e.op === 'exit');
  if (exit < 0) return [];
  return events
    .slice(exit + 1)
    .filter((e) => (e.type === 'vma' && e.op !== 'exit') || e.type === 'cpu-access')
    .map((e) => `${e.type === 'vma' ? e.op : e.type} at step ${e.step}`);
}

describe('runScenario: a process exit and its other threads', () => {
  // One program of the process stores and unmaps, another exits it. Each op of the first that was
  // under way when the exit began is a thread in a system call or fault, holding its own mm_users
  // reference: exit_mmap runs only once it has returned (kernel/exit.c, exit_mm and mmput).
  const s: Scenario = {
    regions: [region],
    tasks: [
      {
        kind: 'cpu',
        ops: [
          { op: 'write', region: 0, page: 0, word: 0, value: 5 },
          { op: 'mprotect', region: 0, page: 1, pages: 1, prot: 'r' },
          { op: 'munmap', region: 0, page: 1, pages: 1 },
          { op: 'write', region: 0, page: 0, word: 1, value: 6 },
        ],
      },
      { kind: 'cpu', ops: [{ op: 'exit' }] },
    ],
  };

  it('should start exit_mmap only after the ops of the other threads in flight returned, under every schedule tried', async () => {
    let raced = 0;
    for (let seed = 1; seed <= 120; seed++) {
      const r = await runScenario(bare, s, { decisions: seededDecisions(seed), trace: 'all' });
      expect(r.run.status, r.run.message).toBe('done');
      expect(afterExit(r.world.kernel.trace.events()), `seed ${seed}`).toEqual([]);
      // An op under way when the exit began ends as it would have alone, not in the torn-down mm.
      expect(
        r.outcomes.filter((o) => o.task === 0 && o.status !== 'ok' && o.status !== 'skipped').map((o) => `${o.op} ${o.status}`),
        `seed ${seed}`,
      ).toEqual([]);
      // Schedules where the exit came while the other program still had ops to do.
      if (r.outcomes.some((o) => o.task === 0 && o.status === 'skipped')) raced++;
    }
    expect(raced).toBeGreaterThan(10);
  });

  it('should still run every op of the other thread when the exit comes last', async () => {
    const r = await runScenario(bare, s, { decisions: firstRunnable, trace: 'all' });
    expect(r.outcomes.map((o) => [o.task, o.op, o.status])).toEqual([
      [0, 'write', 'ok'],
      [0, 'mprotect', 'ok'],
      [0, 'munmap', 'ok'],
      [0, 'write', 'ok'],
      [1, 'exit', 'ok'],
    ]);
  });
});
