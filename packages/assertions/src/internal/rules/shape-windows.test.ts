import { firstRunnable, seededDecisions } from '@hmmlab/core';
import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../../vitest.js';
import { checkScenario } from '../check.js';
import type { OracleContext } from '../context.js';
import type { ActiveInvalidation } from '../state.js';
import { knobDriver } from '../test-driver.js';
import { coverCallbacks } from './shape-windows.js';

const anon = (pages: number) => ({ pages, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }) as const;

/** Seeds 1 to 60 of `scenario` whose run reached `window`; every run keeps the flush contract. */
async function seedsReaching(scenario: Scenario, window: string): Promise<number> {
  let reached = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = await checkScenario(knobDriver({}), scenario, { decisions: seededDecisions(seed) });
    expect(r).toKeepFlushContract();
    if ((r.coverage.windows[window] ?? 0) > 0) reached++;
  }
  return reached;
}

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
    expect(await seedsReaching(race, 'zap-during-migration-to-device')).toBeGreaterThan(0);
  });

  it('should not count a zap that comes after the migration', async () => {
    const r = await checkScenario(knobDriver({}), race, { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
    expect(r.coverage.windows['zap-during-migration-to-device']).toBeUndefined();
    expect(r.coverage.windows['zap-during-migration-to-ram']).toBeUndefined();
  });
});

describe('cpu-faults-on-one-device-page', () => {
  // Two CPU threads read a page the driver moved to device memory: each read faults into
  // do_swap_page, and the one that comes second may start while the first is in migrate_to_ram.
  const race: Scenario = {
    regions: [anon(1)],
    tasks: [
      { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1 }] },
      { kind: 'cpu', ops: [{ op: 'read', region: 0, page: 0 }] },
      { kind: 'cpu', ops: [{ op: 'read', region: 0, page: 0 }] },
    ],
  };

  it('should count two CPU faults on one device page in flight at once, under some interleaving', async () => {
    expect(await seedsReaching(race, 'cpu-faults-on-one-device-page')).toBeGreaterThan(0);
  });

  it('should not count faults that run one after the other', async () => {
    const r = await checkScenario(knobDriver({}), race, { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
    // The first read's fault moved the page back (a MIGRATE invalidation of the device page).
    expect(Object.keys(r.coverage.cells).some((c) => c.startsWith('MMU_NOTIFY_MIGRATE|own|own-device-private|'))).toBe(true);
    expect(r.coverage.windows['cpu-faults-on-one-device-page']).toBeUndefined();
  });
});

describe('multi-notifier-invalidation', () => {
  const enter = (sub: string, op: 'invalidate' | 'invalidate-range-end' = 'invalidate') =>
    ({ type: 'inv-callback', inv: 1, sub, op, phase: 'enter', result: null, leaked: [] }) as const;
  const covered = (events: readonly ReturnType<typeof enter>[]): string[] => {
    const cells: string[] = [];
    const ctx = { cover: (k: string) => cells.push(k) } as unknown as OracleContext;
    coverCallbacks(ctx, { callbackEvents: events } as unknown as ActiveInvalidation);
    return cells;
  };

  it('should count two notifiers called for one invalidation even when they share a name (two GPUs)', () => {
    expect(covered([enter('nouveau svmm0'), enter('nouveau svmm0')])).toEqual(['window|multi-notifier-invalidation']);
  });

  it('should not count one notifier, nor a callback that is no start callback', () => {
    expect(covered([enter('nouveau svmm0')])).toEqual([]);
    expect(covered([enter('nouveau svmm0'), enter('nouveau svmm0', 'invalidate-range-end')])).toEqual([]);
  });
});

describe('device-write-to-lazyfree-page', () => {
  const inOrder = (first: Scenario['tasks'][number]): Scenario => ({
    regions: [anon(1)],
    tasks: [first, { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 7 }] }],
  });

  it('should count a device write to a page MADV_FREE left lazily freeable', async () => {
    const r = await checkScenario(
      knobDriver({ dirtyOnRevoke: true }),
      inOrder({ kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'free' }] }),
      { decisions: firstRunnable },
    );
    expect(r).toKeepFlushContract();
    expect(r.coverage.windows['device-write-to-lazyfree-page']).toBe(1);
  });

  it('should not count one after a CPU write took the page back, nor one after MADV_DONTNEED', async () => {
    for (const first of [
      {
        kind: 'cpu',
        ops: [
          { op: 'madvise', region: 0, page: 0, pages: 1, advice: 'free' },
          { op: 'write', region: 0, page: 0, value: 3 },
        ],
      },
      { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
    ] as const) {
      const r = await checkScenario(knobDriver({ dirtyOnRevoke: true }), inOrder(first), { decisions: firstRunnable });
      expect(r).toKeepFlushContract();
      expect(r.coverage.windows['device-write-to-lazyfree-page']).toBeUndefined();
    }
  });
});
