import { type DecisionSource, seededDecisions } from '@hmmlab/core';
import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../vitest.js';
import { checkScenario } from './check.js';
import { type Knobs, knobDriver } from './test-driver.js';

/**
 * The device faults page 0 in while the CPU discards it (MADV_DONTNEED frees the page). The
 * schedule runs the device task until its fault path has the pfns from hmm_range_fault, then the
 * CPU task: the page is freed inside the driver's window, before its lock and read_retry.
 */
const readWhileDiscarded: Scenario = {
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] },
    { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
  ],
};

/** The device writes page 0 while the CPU makes it read-only: the entry keeps its page, not its write access. */
const writeWhileProtected: Scenario = {
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 7 }] },
    { kind: 'cpu', ops: [{ op: 'mprotect', region: 0, page: 0, pages: 1, prot: 'r' }] },
  ],
};

/** Runs the scenario with the CPU task preferred from the first window on. */
async function inWindow(pfnUse: NonNullable<Knobs['pfnUse']>, scenario: Scenario = readWhileDiscarded) {
  let window = false;
  const decisions: DecisionSource = {
    pick: (candidates) => {
      if (!window) return 0;
      const cpu = candidates.findIndex((c) => c.kind === 'cpu');
      return Math.max(cpu, 0);
    },
  };
  return checkScenario(
    knobDriver({
      pfnUse,
      onWindow: () => {
        window = true;
      },
    }),
    scenario,
    { decisions, trace: 'all' },
  );
}

describe('pfns from hmm_range_fault used after their page was freed', () => {
  it('should report stale-install when the driver installs the pfn before checking read_retry', async () => {
    const r = await inWindow('install-before-retry');
    expect(r.run.status).toBe('done');
    expect(r.violations.map((v) => v.rule)).toEqual(['stale-install']);
    const v = r.violations[0];
    const freed = r.result.world.kernel.trace.events().find((e) => e.type === 'page-free');
    expect(freed?.type === 'page-free' && v?.page?.pfn === freed.pfn).toBe(true);
    expect(v?.explanation).toContain(`was freed at step ${freed?.step}`);
  });

  it('should report freed-page-mapped when the driver DMA-maps the pfn before its lock and read_retry', async () => {
    const r = await inWindow('dma-before-retry');
    expect(r.run.status).toBe('done');
    expect(r.violations.map((v) => v.rule)).toEqual(['freed-page-mapped']);
    const v = r.violations[0];
    expect(v?.translations[0]?.source).toBe('dma');
    expect(v?.explanation).toMatch(/DMA-mapped pfn \d+ for writing, which was freed at step \d+/);
  });

  it('should report freed-page-mapped when the driver takes a page reference before its lock and read_retry', async () => {
    const r = await inWindow('get-before-retry');
    expect(r.run.status).toBe('done');
    expect(r.violations.map((v) => v.rule)).toEqual(['freed-page-mapped']);
    expect(r.violations[0]?.explanation).toMatch(/^get_page of pfn \d+, which is free: the reference keeps nothing alive/);
  });

  it('should pass when the same schedule meets a driver that references, maps and installs only after read_retry passed', async () => {
    const r = await inWindow('after-retry');
    expect(r.run.status).toBe('done');
    expect(r).toKeepFlushContract();
    expect(r.violations).toEqual([]);
    // The window was reached and the page freed in it: the fixed driver retried.
    expect(r.result.world.kernel.trace.events().some((e) => e.type === 'page-free')).toBe(true);
    expect(r.result.world.kernel.trace.events().filter((e) => e.type === 'inv-start').length).toBeGreaterThan(0);
  });

  it.each([
    ['install-before-retry', 'stale-install'],
    ['dma-before-retry', 'freed-page-mapped'],
    ['get-before-retry', 'freed-page-mapped'],
  ] as const)('should find %s under seeded schedules, and the fixed driver under none of them', async (pfnUse, rule) => {
    const seeds = Array.from({ length: 40 }, (_, i) => i + 1);
    let found = 0;
    for (const seed of seeds) {
      const buggy = await checkScenario(knobDriver({ pfnUse }), readWhileDiscarded, { decisions: seededDecisions(seed) });
      if (buggy.violations.some((v) => v.rule === rule)) found++;
      expect(buggy.run.status).toBe('done');
      const fixed = await checkScenario(knobDriver({ pfnUse: 'after-retry' }), readWhileDiscarded, { decisions: seededDecisions(seed) });
      expect(fixed).toKeepFlushContract();
    }
    expect(found).toBeGreaterThan(0);
  });
});

describe('pfns from hmm_range_fault used after their CPU entry lost write access', () => {
  it('should name the change that took write access when the driver installs a writable pfn before checking read_retry', async () => {
    const r = await inWindow('install-before-retry', writeWhileProtected);
    expect(r.run.status).toBe('done');
    expect(r.violations.map((v) => v.rule)).toEqual(['stale-install']);
    const protect = r.result.world.kernel.trace.events().find((e) => e.type === 'inv-start');
    expect(r.violations[0]?.explanation).toContain('read-only, but the device was given it writable');
    expect(r.violations[0]?.explanation).toMatch(
      new RegExp(
        `lost write access at step \\d+ \\(mprotect, invalidation #${protect?.type === 'inv-start' ? protect.inv : -1} MMU_NOTIFY_PROTECTION_VMA\\)`,
      ),
    );
  });

  it('should pass when the same schedule meets a driver that installs only after read_retry passed', async () => {
    const r = await inWindow('after-retry', writeWhileProtected);
    expect(r.run.status).toBe('done');
    expect(r).toKeepFlushContract();
    // The mprotect ran in the window: the fixed driver retried and mapped the page read-only.
    expect(r.result.world.kernel.trace.events().some((e) => e.type === 'inv-start')).toBe(true);
  });
});
