import { firstRunnable, seededDecisions } from '@hmmlab/core';
import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../../vitest.js';
import { checkScenario } from '../check.js';
import { knobDriver } from '../test-driver.js';

const anon = (pages: number) => ({ pages, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }) as const;

describe('zap-during-migration-to-device', () => {
  // MADV_DONTNEED takes mmap_lock for read, as the migration does: it can zap the migration entries.
  const race: Scenario = {
    regions: [anon(2)],
    tasks: [
      { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 2 }] },
      { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 2, advice: 'dontneed' }] },
    ],
  };

  it('should count a zap of a page that a migration to device memory moves, under some interleaving', async () => {
    let reached = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const r = await checkScenario(knobDriver({}), race, { decisions: seededDecisions(seed) });
      expect(r).toKeepFlushContract();
      if ((r.coverage.windows['zap-during-migration-to-device'] ?? 0) > 0) reached++;
    }
    expect(reached).toBeGreaterThan(0);
  });

  it('should not count a zap that comes after the migration', async () => {
    const r = await checkScenario(knobDriver({}), race, { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
    expect(r.coverage.windows['zap-during-migration-to-device']).toBeUndefined();
    expect(r.coverage.windows['zap-during-migration-to-ram']).toBeUndefined();
  });
});
