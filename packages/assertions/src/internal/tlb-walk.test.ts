import { firstRunnable, seededDecisions } from '@hmmlab/core';
import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../vitest.js';
import { checkScenario } from './check.js';
import { type Knobs, knobDriver } from './test-driver.js';

const anon = (pages: number) => ({ pages, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }) as const;

/** The device maps page 0 (a fault, then the access fills its TLB), then the CPU unmaps the region. */
const mapThenUnmap: Scenario = {
  regions: [anon(2)],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 5 }] },
    { kind: 'cpu', ops: [{ op: 'munmap', region: 0, page: 0, pages: 2 }] },
  ],
};

const run = (knobs: Knobs, scenario: Scenario) => checkScenario(knobDriver(knobs), scenario, { decisions: firstRunnable, trace: 'all' });

describe('a device TLB walked between a flush and the clear', () => {
  it('should report missed-flush when the callback flushes before it clears', async () => {
    const r = await run({ flushBeforeClear: true }, mapThenUnmap);
    expect(r).toViolate('missed-flush');
    const v = r.violations.find((x) => x.rule === 'missed-flush');
    expect(v?.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
    // The explanation follows the order of the callback's acts: the clear came after the flush.
    expect(v?.explanation).toMatch(/the page-table entry was cleared at step \d+ and no flush covering it completed after that/);
    expect(v?.explanation).toContain('cleared its device entry only after the flush completed');
    expect(v?.explanation).not.toContain('installed again');
  });

  it('should stay silent when the callback clears, then flushes', async () => {
    const r = await run({}, mapThenUnmap);
    expect(r).toKeepFlushContract();
    expect(r.metrics.total.missed).toBe(0);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('should tell the two orders apart under other schedules (seed %i)', async (seed) => {
    const ok = await checkScenario(knobDriver({}), mapThenUnmap, { decisions: seededDecisions(seed) });
    expect(ok).toKeepFlushContract();
    const swapped = await checkScenario(knobDriver({ flushBeforeClear: true }), mapThenUnmap, { decisions: seededDecisions(seed) });
    // The device's one write either came before the unmap (its entry then outlives the flush) or faulted after it.
    const mapped = swapped.result.outcomes.some((o) => o.op === 'dev-write' && o.status === 'ok');
    const unmappedAfter =
      swapped.result.outcomes.findIndex((o) => o.op === 'munmap') > swapped.result.outcomes.findIndex((o) => o.op === 'dev-write');
    if (mapped && unmappedAfter) expect(swapped).toViolate('missed-flush');
    else expect(swapped).toKeepFlushContract();
  });
});
