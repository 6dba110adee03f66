/**
 * A device's write after MADV_FREE survives reclaim only if the driver marks the page dirty when it
 * revokes the writable translation (docs/findings/device-writes-not-dirtied.md; on Linux 6.1,
 * docs/findings/oracle/madv-free-write-6.1.txt). Every correct example that maps system pages
 * writable on its device keeps the write; the same driver with its set_page_dirty calls removed
 * (the model's `PageAllocator.setPageDirty` made a no-op) loses it, and the oracle says so.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkScenario, formatViolation, type Violation } from '@hmmlab/assertions';
import '@hmmlab/assertions/vitest';
import { firstRunnable } from '@hmmlab/core';
import { exploreSchedules } from '@hmmlab/fuzz';
import { type DriverDefinition, loadDriver, type Observer, type Scenario } from '@hmmlab/harness';
import { afterEach, describe, expect, it, vi } from 'vitest';

const root = fileURLToPath(new URL('../../examples', import.meta.url));

// MADV_FREE, the device writes the page (faulting it in writable), reclaim takes it; as tasks, so
// that schedules interleave them. Both orders of the first two tasks.
const madvise = { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'free' }] } as const;
const write = { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 7 }] } as const;
const scenarios: readonly Scenario[] = [
  [madvise, write],
  [write, madvise],
].map((first) => ({
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [...first, { kind: 'kernel', ops: [{ op: 'reclaim', region: 0, page: 0 }] }],
}));

const MAX_SCHEDULES = 2_000;

/** The prototype of the page allocator the driver's model runs with (its module instance). */
async function allocatorPrototype(driver: DriverDefinition): Promise<object> {
  let proto: object | null = null;
  const capture: Observer = {
    attach(world) {
      proto = Object.getPrototypeOf(world.kernel.pages) as object;
    },
  };
  await checkScenario(driver, scenarios[0] as Scenario, { decisions: firstRunnable, observers: [capture] });
  if (proto === null) throw new Error('no run');
  return proto;
}

describe('a device write to a page MADV_FREE left lazily freeable', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    'amdkfd-style',
    'amdkfd-style-xnack-off',
    'xe-style',
    'nouveau-style',
    'dmirror-fixed',
    'mlx5-odp-style',
    'buggy/controls/n1-own-migrate-revoked',
    'buggy/controls/n7-quiesce-restore',
  ])('should be kept by %s, and lost without its set_page_dirty', async (name) => {
    const driver = await loadDriver(join(root, name, 'driver.ts'));
    // Schedules with up to two preemptions (the first 2,000), both orders of the tasks.
    for (const scenario of scenarios) {
      const r = await exploreSchedules(driver, scenario, { maxSchedules: MAX_SCHEDULES });
      expect(r.failure === null ? 'kept' : formatViolation(r.failure.violations[0] as Violation)).toBe('kept');
    }
    // The same driver, its set_page_dirty calls doing nothing.
    vi.spyOn((await allocatorPrototype(driver)) as { setPageDirty(p: unknown): void }, 'setPageDirty').mockImplementation(() => undefined);
    const lost: string[] = [];
    for (const scenario of scenarios) {
      const r = await exploreSchedules(driver, scenario, { maxSchedules: MAX_SCHEDULES });
      if (r.failure === null) continue;
      lost.push(r.failure.violations.map((v) => v.rule).join(', '));
      expect(r.failure.violations[0]?.explanation).toMatch(/^reclaim discarded pfn \d+ of 0x[0-9a-f]+ as a clean MADV_FREE page/);
    }
    expect(lost.length).toBeGreaterThan(0);
    expect(lost.every((x) => x === 'lost-write')).toBe(true);
  });
});
