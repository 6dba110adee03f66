import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import type { Page } from '../mm/page.js';
import { PTE_DEVICE_PRIVATE, PTE_PRESENT, pteKindOf } from '../mm/pte.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import { MMU_NOTIFY_CLEAR } from '../notifier/range.js';
import { createDevice, eventsOf, mapAnon, migrate } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { compactPage } from './compact.js';
import { migrateDeviceFinalize, migrateDevicePages, migrateDevicePfns, migrateDeviceRange } from './migrate-device.js';
import { MIGRATE_PFN_MIGRATE, MIGRATE_PFN_VALID, migratePfn, migratePfnToPage } from './migrate-pfn.js';

describe('migrateDeviceRange (eviction)', () => {
  it('should evict mapped device pages back to system memory, invalidating only through try_to_migrate', async () => {
    const k = new Kernel({ trace: 'all' });
    const ps = k.pageSize;
    const mm = k.createMm();
    const dev = createDevice(k, { pages: 4 });
    const base = await mapAnon(mm, 2);
    await mm.write(base, 11);
    await mm.write(base + ps, 12);
    await migrate(dev, mm, base, base + 2 * ps, 'device');
    const seen: [number, number, number, unknown][] = [];
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('w'), mm, base, 2 * ps, {
      invalidate(_m, r) {
        seen.push([r.event, r.start - base, r.end - base, r.owner]);
        return true;
      },
    });
    const src = new Array<number>(4).fill(0);
    expect(await migrateDeviceRange(k, src, dev.pgmap.startPfn, 4)).toBe(0);
    expect(src.map((s) => s & 3)).toEqual([MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE, MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE, 0, 0]);
    expect(seen).toEqual([
      [MMU_NOTIFY_CLEAR, 0, ps, undefined],
      [MMU_NOTIFY_CLEAR, ps, 2 * ps, undefined],
    ]);
    const dst = src.map((s) => {
      const from = migratePfnToPage(k, s);
      if (from === null) return 0;
      const p = k.pages.allocPage();
      k.pages.trylockPage(p);
      k.pages.copyPage(p, from, 'evict');
      return migratePfn(p.pfn);
    });
    const invs = eventsOf(k, 'inv-start').length;
    await migrateDevicePages(k, src, dst, 4);
    migrateDeviceFinalize(k, src, dst, 4);
    expect(eventsOf(k, 'inv-start').length).toBe(invs);
    expect(pteKindOf(mm.pte(base))).toBe(PTE_PRESENT);
    expect(await mm.read(base + ps)).toBe(12);
    expect(dev.freeList).toHaveLength(4);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should select the pfns given to migrateDevicePfns', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const dev = createDevice(k, { pages: 4 });
    const base = await mapAnon(mm, 1);
    await mm.write(base, 1);
    await migrate(dev, mm, base, base + k.pageSize, 'device');
    const page = mm.pageAt(base) as Page;
    const src = [page.pfn, dev.pgmap.startPfn + 3];
    await migrateDevicePfns(k, src, 2);
    expect(src.map((s) => s & 3)).toEqual([3, 0]);
    migrateDeviceFinalize(k, src, [0, 0], 2);
    expect(pteKindOf(mm.pte(base))).toBe(PTE_DEVICE_PRIVATE);
  });

  it.each(['5.14', '5.9'] as const)('should throw ERR_PROFILE on %s, before v6.1', async (profile) => {
    const k = new Kernel({ profile });
    await expect(migrateDeviceRange(k, [0], 1, 1)).rejects.toMatchObject({ code: 'ERR_PROFILE' });
  });

  it.each([
    ['a src array shorter than npages', [0], 2],
    ['npages of zero', [0], 0],
  ])('should throw ERR_BAD_ARGUMENT for %s', async (_what, src, n) => {
    const k = new Kernel();
    await expect(migrateDeviceRange(k, src, 1, n)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    expect(() => migrateDeviceFinalize(k, src, [], 1)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });
});

describe('compactPage', () => {
  it('should move a mapped page under a CLEAR invalidation and keep its data', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const base = await mapAnon(mm, 1);
    await mm.write(base, 77);
    const child = await mm.fork();
    const old = mm.pageAt(base) as Page;
    expect(await compactPage(k, old)).toBe(0);
    expect(old.free).toBe(true);
    expect((mm.pageAt(base) as Page).pfn).toBe((child.pageAt(base) as Page).pfn);
    expect(await child.read(base)).toBe(77);
    expect(
      eventsOf(k, 'inv-start')
        .slice(-2)
        .map((e) => e.event),
    ).toEqual([MMU_NOTIFY_CLEAR, MMU_NOTIFY_CLEAR]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should refuse a pinned page with -EBUSY and leave it mapped', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const base = await mapAnon(mm, 1);
    await mm.write(base, 1);
    const page = mm.pageAt(base) as Page;
    page.pins = 1;
    k.pages.getPage(page);
    expect(await compactPage(k, page)).toBe(-16);
    expect(mm.pageAt(base)).toBe(page);
  });
});
