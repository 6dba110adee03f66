import { firstRunnable } from '@hmmlab/core';
import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../../vitest.js';
import { checkScenario } from '../check.js';
import { type Knobs, knobDriver } from '../test-driver.js';

/**
 * The device reads page 0 (its fault path DMA-maps the page and installs the entry after
 * `mmu_interval_read_retry`), then the CPU discards it: the invalidation clears the entry, flushes
 * the TLB and tears the DMA mapping down, in an order the knobs choose.
 */
const readThenDiscard: Scenario = {
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] },
    { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
  ],
};

function run(knobs: Knobs) {
  return checkScenario(knobDriver({ pfnUse: 'after-retry', ...knobs }), readThenDiscard, { decisions: firstRunnable, trace: 'all' });
}

describe('dma-unmapped-in-use', () => {
  it('should report a DMA mapping torn down while the page-table entry and the TLB still reach the page', async () => {
    const r = await run({ dmaUnmapFirst: true });
    expect(r.run.status).toBe('done');
    expect(r.violations.map((v) => v.rule)).toEqual(['dma-unmapped-in-use']);
    const v = r.violations[0];
    expect(v?.explanation).toMatch(/^knob0 DMA-unmaps pfn \d+ while it still translates 0x[0-9a-f]+ → pfn \d+ .* \((pt|tlb)\)/);
    expect(v?.translations.map((t) => t.source).sort()).toEqual(['pt', 'tlb']);
    const unmaps = r.result.world.kernel.trace.events().flatMap((e) => (e.type === 'dma' && e.op === 'unmap' ? [e.pfn] : []));
    expect(v?.page?.pfn).toBe(unmaps[0]);
  });

  it('should report a DMA mapping torn down while the TLB flush issued for it is still in flight', async () => {
    // Issued and never waited for; issued, the mappings torn down, and then waited for.
    for (const flush of ['fence-nowait', 'fence-wait-after-dma-unmap'] as const) {
      const r = await run({ flush });
      expect(r.run.status).toBe('done');
      expect(r.violations.map((v) => v.rule)[0], flush).toBe('dma-unmapped-in-use');
      expect(r.violations[0]?.translations.map((t) => t.source)).toEqual(['tlb']);
    }
    // The flush waited for after the unmap leaves nothing else to report.
    expect((await run({ flush: 'fence-wait-after-dma-unmap' })).violations.map((v) => v.rule)).toEqual(['dma-unmapped-in-use']);
  });

  it('should pass when the same run clears the entry and waits for the flush before the DMA mapping goes', async () => {
    for (const flush of ['sync', 'fence-wait'] as const) {
      const r = await run({ flush });
      expect(r.run.status).toBe('done');
      expect(r).toKeepFlushContract();
      expect(r.violations).toEqual([]);
      // The page was DMA-mapped and unmapped in the run.
      const ops = r.result.world.kernel.trace.events().flatMap((e) => (e.type === 'dma' ? [e.op] : []));
      expect(ops).toEqual(['map', 'unmap']);
    }
  });
});
