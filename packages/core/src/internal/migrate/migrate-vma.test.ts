import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../errors.js';
import { HMM_PFN_REQ_FAULT, hmmRangeFault } from '../hmm/hmm-range-fault.js';
import { Kernel } from '../kernel.js';
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE, ULONG_MAX } from '../mm/constants.js';
import { oomReap } from '../mm/exit.js';
import type { Mm } from '../mm/mm.js';
import type { Page } from '../mm/page.js';
import { PTE_DEVICE_EXCLUSIVE, PTE_DEVICE_PRIVATE, PTE_MIGRATION, PTE_PRESENT, PTE_SWAP, pteKindOf, ptePfn } from '../mm/pte.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert, mmuIntervalReadBegin, mmuIntervalSetSeq } from '../notifier/interval-notifier.js';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_MIGRATE, type MmuNotifierRange } from '../notifier/range.js';
import { PROFILE_NAMES, type ProfileName } from '../profile.js';
import { arrayDecisions } from '../sched/decisions.js';
import { SignalError } from '../sched/scheduler.js';
import { asPage, createDevice, eventsOf, fillDst, mapAnon, migrate, setSelect, type TestDevice } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { compactPage } from './compact.js';
import { makeDeviceExclusive, makeDeviceExclusiveRange } from './device-exclusive.js';
import { migrateDeviceFinalize, migrateDevicePages, migrateDeviceRange } from './migrate-device.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnToPage,
  migratePfnToPfn,
} from './migrate-pfn.js';
import { MigrateVma, migrateVmaFinalize, migrateVmaPages, migrateVmaSetup } from './migrate-vma.js';

interface Seen {
  event: number;
  start: number;
  end: number;
  owner: unknown;
  migratePgmapOwner: unknown;
  data: unknown;
}

function watch(mm: Mm, seen: Seen[]): Promise<number> {
  return mmuIntervalNotifierInsert(new MmuIntervalNotifier('watcher'), mm, 0, ULONG_MAX, {
    invalidate(_m, r: MmuNotifierRange) {
      seen.push({ event: r.event, start: r.start, end: r.end, owner: r.owner, migratePgmapOwner: r.migratePgmapOwner, data: r.data });
      return true;
    },
  });
}

async function world(
  profile: ProfileName = 'latest',
  pages = 4,
): Promise<{ k: Kernel; mm: Mm; base: number; ps: number; dev: TestDevice }> {
  const k = new Kernel({ trace: 'all', profile });
  const mm = k.createMm();
  const base = await mapAnon(mm, pages);
  for (let i = 0; i < pages; i++) await mm.write(base + i * k.pageSize, 100 + i);
  return { k, mm, base, ps: k.pageSize, dev: createDevice(k, { name: 'devA' }) };
}

describe('migrateVmaSetup (rule 5: the collect invalidation by profile)', () => {
  const expected: Record<ProfileName, { event: number; field: 'owner' | 'migratePgmapOwner' | 'data' | null }> = {
    '5.8': { event: MMU_NOTIFY_CLEAR, field: null },
    seed: { event: MMU_NOTIFY_MIGRATE, field: 'data' },
    '5.9': { event: MMU_NOTIFY_MIGRATE, field: 'migratePgmapOwner' },
    '5.14': { event: MMU_NOTIFY_MIGRATE, field: 'owner' },
    '6.1': { event: MMU_NOTIFY_MIGRATE, field: 'owner' },
    latest: { event: MMU_NOTIFY_MIGRATE, field: 'owner' },
  };
  it.each(PROFILE_NAMES)('should send the device-to-RAM collect invalidation as profile %s does', async (profile) => {
    const { mm, base, ps, dev } = await world(profile);
    expect((await migrate(dev, mm, base, base + 2 * ps, 'device')).cpages).toBe(2);
    const seen: Seen[] = [];
    await watch(mm, seen);
    const res = await migrate(dev, mm, base, base + 2 * ps, 'ram');
    expect(res.cpages).toBe(2);
    const want = expected[profile];
    expect(seen[0]).toEqual({
      event: want.event,
      start: base,
      end: base + 2 * ps,
      owner: want.field === 'owner' ? dev.owner : undefined,
      migratePgmapOwner: want.field === 'migratePgmapOwner' ? dev.owner : undefined,
      data: want.field === 'data' ? dev.owner : undefined,
    });
    expect(await mm.read(base + ps)).toBe(101);
  });

  it('should carry pgmapOwner in a system-to-device migration (v5.9+)', async () => {
    const { mm, base, ps, dev } = await world('latest');
    const seen: Seen[] = [];
    await watch(mm, seen);
    await migrate(dev, mm, base, base + ps, 'device');
    expect(seen.map((s) => [s.event, s.owner])).toEqual([[MMU_NOTIFY_MIGRATE, dev.owner]]);
  });
});

describe('migrateVmaSetup (rule 6: the collect selection table, §3.4)', () => {
  type Kind =
    | 'hole in anon vma'
    | 'hole in shared vma'
    | 'zero page'
    | 'system page'
    | 'own device-private'
    | 'foreign device-private'
    | 'own device-coherent'
    | 'foreign device-coherent'
    | 'swap entry'
    | 'device-exclusive entry';
  type Sel = 'SYSTEM' | 'DEVICE_PRIVATE' | 'DEVICE_COHERENT';
  const M = MIGRATE_PFN_MIGRATE;
  const VMW = MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE | MIGRATE_PFN_WRITE;
  // [kind, SYSTEM, DEVICE_PRIVATE, DEVICE_COHERENT]: the src flags expected (0: not selected).
  const table: [Kind, number, number, number][] = [
    ['hole in anon vma', M, M, M],
    ['hole in shared vma', 0, 0, 0],
    ['zero page', M, 0, 0],
    ['system page', VMW, 0, 0],
    ['own device-private', 0, VMW, 0],
    ['foreign device-private', 0, 0, 0],
    ['own device-coherent', 0, 0, VMW],
    ['foreign device-coherent', 0, 0, 0],
    ['swap entry', 0, 0, 0],
    ['device-exclusive entry', 0, 0, 0],
  ];
  const rows = table.flatMap(([kind, s, p, c]) =>
    (
      [
        ['SYSTEM', s],
        ['DEVICE_PRIVATE', p],
        ['DEVICE_COHERENT', c],
      ] as [Sel, number][]
    ).map(([sel, want]) => [kind, sel, want] as const),
  );

  it.each(rows)('should collect a %s under SELECT_%s with owner A as src flags %i', async (kind, sel, want) => {
    const k = new Kernel({ trace: 'all' });
    const ps = k.pageSize;
    const mm = k.createMm();
    const ownerA = { owner: 'A' };
    const ownerB = { owner: 'B' };
    const privA = createDevice(k, { name: 'privA', owner: ownerA });
    const privB = createDevice(k, { name: 'privB', owner: ownerB });
    const cohA = createDevice(k, { name: 'cohA', owner: ownerA, coherent: true });
    const cohB = createDevice(k, { name: 'cohB', owner: ownerB, coherent: true });
    let va: number;
    if (kind === 'hole in shared vma') {
      va = await mm.mmap(0, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    } else {
      va = await mapAnon(mm, 1);
      if (kind === 'zero page') await mm.read(va);
      else if (kind !== 'hole in anon vma') await mm.write(va, 42);
      const via = {
        'own device-private': privA,
        'foreign device-private': privB,
        'own device-coherent': cohA,
        'foreign device-coherent': cohB,
      }[kind as string];
      if (via !== undefined) expect((await migrate(via, mm, va, va + ps, 'device')).cpages).toBe(1);
      if (kind === 'swap entry') expect(await mm.reclaim(va)).toBe(0);
      if (kind === 'device-exclusive entry') {
        await mm.mmapLock.downRead();
        const page = asPage(await makeDeviceExclusive(mm, va, ownerA));
        mm.mmapLock.upRead();
        k.pages.unlockPage(page);
        k.pages.putPage(page);
      }
    }
    const before = mm.pte(va);
    const args = new MigrateVma({ vma: mm.findVma(va) ?? null, start: va, end: va + ps, src: [0], dst: [0], pgmapOwner: ownerA });
    args.flags = {
      SYSTEM: MIGRATE_VMA_SELECT_SYSTEM,
      DEVICE_PRIVATE: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
      DEVICE_COHERENT: MIGRATE_VMA_SELECT_DEVICE_COHERENT,
    }[sel];
    await mm.mmapLock.downRead();
    expect(await migrateVmaSetup(args)).toBe(0);
    const src = args.src[0] as number;
    expect(src & 63).toBe(want);
    expect(args.cpages).toBe(want === 0 ? 0 : 1);
    expect(args.npages).toBe(1);
    if ((want & MIGRATE_PFN_VALID) !== 0) {
      expect(migratePfnToPfn(src)).toBe(ptePfn(before));
      expect(pteKindOf(mm.pte(va))).toBe(PTE_MIGRATION);
    } else {
      expect(mm.pte(va)).toBe(before);
    }
    // No destination: everything is restored by finalize.
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    mm.mmapLock.upRead();
    expect(pteKindOf(mm.pte(va))).toBe(pteKindOf(before));
    expect(ptePfn(mm.pte(va))).toBe(ptePfn(before));
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it.each([
    ['SYSTEM and pgmapOwner, before v5.9 (src_owner unset)', '5.8' as const, false, VMW],
    ['srcOwner, before v5.9: only that owner device-private pages', '5.8' as const, true, 0],
  ])('should select by %s', async (_what, profile, withOwner, want) => {
    const { mm, base, ps, dev } = await world(profile, 1);
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + ps, src: [0], dst: [0] });
    if (withOwner) args.srcOwner = dev.owner;
    await mm.mmapLock.downRead();
    await migrateVmaSetup(args);
    expect((args.src[0] as number) & 63).toBe(want);
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    mm.mmapLock.upRead();
  });
});

describe('migrateVmaSetup (rule 7: the entry lifecycle)', () => {
  it('should skip an anon-exclusive pinned page at collect and leave its entry alone', async () => {
    const { k, mm, base, ps, dev } = await world('latest', 2);
    const page = asPage(mm.pageAt(base) as never);
    page.pins = 1;
    k.pages.getPage(page);
    const before = mm.pte(base);
    const res = await migrate(dev, mm, base, base + 2 * ps, 'device');
    expect(res.src[0]).toBe(0);
    expect(res.cpages).toBe(1);
    expect(mm.pte(base)).toBe(before);
    expect(eventsOf(k, 'pte').filter((e) => e.va === base && e.why !== 'anon-fault')).toEqual([]);
    page.pins = 0;
    k.pages.putPage(page);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should drop a pinned shared page at unmap, restore its entries, and not count it in cpages', async () => {
    const { k, mm, base, ps, dev } = await world('latest', 2);
    const child = await mm.fork();
    const page = asPage(mm.pageAt(base) as never);
    page.pins = 1;
    k.pages.getPage(page);
    const res = await migrate(dev, mm, base, base + 2 * ps, 'device');
    expect(res.src[0]).toBe(0);
    expect(res.cpages).toBe(1);
    expect(res.migrated).toBe(1);
    const whys = eventsOf(k, 'pte')
      .filter((e) => e.va === base)
      .map((e) => `${e.mm === mm.id ? 'parent' : 'child'} ${e.why}`);
    expect(whys).toEqual(
      expect.arrayContaining([
        'parent migrate-collect',
        'child try-to-migrate',
        'parent remove-migration-ptes',
        'child remove-migration-ptes',
      ]),
    );
    expect(ptePfn(mm.pte(base))).toBe(page.pfn);
    expect(ptePfn(child.pte(base))).toBe(page.pfn);
    expect(pteKindOf(mm.pte(base + ps))).toBe(PTE_DEVICE_PRIVATE);
    page.pins = 0;
    k.pages.putPage(page);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should stop migrating entries that get no destination, and map the others', async () => {
    const { k, mm, base, ps, dev } = await world('latest', 3);
    await mm.mmapLock.downRead();
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + 3 * ps, src: [0, 0, 0], dst: [0, 0, 0] });
    setSelect(mm, args, dev.owner, 'system');
    await migrateVmaSetup(args);
    expect(args.cpages).toBe(3);
    let n = 0;
    fillDst(mm, args, () => (n++ === 1 ? null : dev.allocPage()), 'test');
    await migrateVmaPages(args);
    expect([0, 1, 2].map((i) => ((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0)).toEqual([true, false, true]);
    migrateVmaFinalize(args);
    mm.mmapLock.upRead();
    expect([0, 1, 2].map((i) => pteKindOf(mm.pte(base + i * ps)))).toEqual([PTE_DEVICE_PRIVATE, PTE_PRESENT, PTE_DEVICE_PRIVATE]);
    expect(await mm.readRange(base, 1)).toEqual(Int32Array.of(100));
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should open one hole-fill invalidation from the first hole to the end: MIGRATE with owner on latest', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const dev = createDevice(k);
    const ps = k.pageSize;
    const base = await mapAnon(mm, 4);
    await mm.write(base, 1);
    await mm.read(base + 2 * ps); // zero page
    const seen: Seen[] = [];
    await watch(mm, seen);
    const res = await migrate(dev, mm, base, base + 4 * ps, 'device');
    expect(res.cpages).toBe(4);
    expect(seen.map((s) => [s.event, s.start - base, s.end - base, s.owner])).toEqual([
      [MMU_NOTIFY_MIGRATE, 0, 4 * ps, dev.owner],
      [MMU_NOTIFY_MIGRATE, ps, 4 * ps, dev.owner],
    ]);
    expect([0, 1, 2, 3].map((i) => pteKindOf(mm.pte(base + i * ps)))).toEqual(Array(4).fill(PTE_DEVICE_PRIVATE));
    expect(
      eventsOf(k, 'pte')
        .filter((e) => e.why === 'migrate-insert-page')
        .every((e) => e.inv === eventsOf(k, 'inv-start')[1]?.inv),
    ).toBe(true);
  });

  it.each(['5.9', '5.8'] as const)('should send the hole-fill invalidation as CLEAR without owner on %s', async (profile) => {
    const k = new Kernel({ trace: 'all', profile });
    const mm = k.createMm();
    const dev = createDevice(k);
    const ps = k.pageSize;
    const base = await mapAnon(mm, 2);
    await mm.write(base, 1);
    const seen: Seen[] = [];
    await watch(mm, seen);
    await migrate(dev, mm, base, base + 2 * ps, 'device');
    expect(seen[1]).toEqual({
      event: MMU_NOTIFY_CLEAR,
      start: base + ps,
      end: base + 2 * ps,
      owner: undefined,
      migratePgmapOwner: undefined,
      data: undefined,
    });
  });

  it('should fire no invalidation in migrateVmaFinalize', async () => {
    const { k, mm, base, ps, dev } = await world('latest', 2);
    await mm.mmapLock.downRead();
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + 2 * ps, src: [0, 0], dst: [0, 0] });
    setSelect(mm, args, dev.owner, 'system');
    await migrateVmaSetup(args);
    fillDst(mm, args, () => dev.allocPage(), 'test');
    await migrateVmaPages(args);
    const invs = eventsOf(k, 'inv-start').length;
    const ptes = eventsOf(k, 'pte').length;
    migrateVmaFinalize(args);
    mm.mmapLock.upRead();
    expect(eventsOf(k, 'inv-start').length).toBe(invs);
    expect(
      eventsOf(k, 'pte')
        .slice(ptes)
        .map((e) => [e.why, e.inv]),
    ).toEqual([
      ['remove-migration-ptes', -1],
      ['remove-migration-ptes', -1],
    ]);
  });

  it('should make a CPU access to a migrating page wait until finalize', async () => {
    const { k, mm, base, ps, dev } = await world('latest', 1);
    const log: string[] = [];
    k.spawn('migrator', 'driver', async () => {
      await mm.mmapLock.downRead();
      const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + ps, src: [0], dst: [0] });
      setSelect(mm, args, dev.owner, 'system');
      await migrateVmaSetup(args);
      log.push('setup');
      await k.msleep(10);
      fillDst(mm, args, () => dev.allocPage(), 'test');
      await migrateVmaPages(args);
      log.push('finalize');
      migrateVmaFinalize(args);
      mm.mmapLock.upRead();
    });
    k.spawn('cpu', 'cpu', async () => {
      await k.msleep(2);
      const v = await mm.read(base);
      log.push(`read ${v}`);
    });
    const r = await k.run({ pick: () => 0 });
    expect(r.status, r.message).toBe('done');
    expect(log).toEqual(['setup', 'finalize', 'read 100']);
    expect(dev.faults).toHaveLength(1);
  });
});

describe('migrate_to_ram (CPU fault on a device-private entry)', () => {
  it.each(PROFILE_NAMES)('should bring the data back on a CPU read under profile %s', async (profile) => {
    const { k, mm, base, ps, dev } = await world(profile, 2);
    await migrate(dev, mm, base, base + 2 * ps, 'device');
    const devPage = asPage(mm.pageAt(base) as never);
    expect(devPage.isDevicePrivate).toBe(true);
    expect(await mm.read(base)).toBe(100);
    expect(dev.faults.map((f) => f.cpages)).toEqual([1]);
    expect(pteKindOf(mm.pte(base))).toBe(PTE_PRESENT);
    expect(pteKindOf(mm.pte(base + ps))).toBe(PTE_DEVICE_PRIVATE);
    expect(devPage.free).toBe(true);
    expect(dev.freeList).toContain(devPage);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should return -EINVAL from setup for a fault page that is not device-private', async () => {
    const { mm, base, ps } = await world('latest', 1);
    const page = asPage(mm.pageAt(base) as never);
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + ps, src: [0], dst: [0], faultPage: page });
    await mm.mmapLock.downRead();
    expect(await migrateVmaSetup(args)).toBe(-EINVAL);
    mm.mmapLock.upRead();
  });

  it.each([
    ['latest', -EINVAL],
    ['6.1', 0],
  ] as const)('should require the fault page to be locked on %s: %i', async (profile, want) => {
    const { k, mm, base, ps, dev } = await world(profile, 1);
    await migrate(dev, mm, base, base + ps, 'device');
    const page = asPage(mm.pageAt(base) as never);
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + ps, src: [0], dst: [0], faultPage: page });
    setSelect(mm, args, dev.owner, 'device');
    await mm.mmapLock.downRead();
    expect(await migrateVmaSetup(args)).toBe(want);
    if (want === 0) {
      expect(args.cpages).toBe(1);
      await migrateVmaPages(args);
      migrateVmaFinalize(args);
    }
    mm.mmapLock.upRead();
    expect(page.locked).toBe(false);
    expect(k.pages.pfnToPage(page.pfn)).toBe(page);
  });
});

describe('migrateVmaSetup (bad input)', () => {
  it('should align an unaligned range down to pages, as the kernel does', async () => {
    const { mm, base, ps, dev } = await world('latest', 2);
    await mm.mmapLock.downRead();
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base + 10, end: base + ps + 10, src: [0], dst: [0] });
    setSelect(mm, args, dev.owner, 'system');
    expect(await migrateVmaSetup(args)).toBe(0);
    expect([args.start, args.end, args.npages]).toEqual([base, base + ps, 1]);
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    mm.mmapLock.upRead();
  });

  it.each([
    ['an empty range', 0, 0],
    ['a range starting before the vma', -1, 1],
    ['a range ending after the vma', 0, 3],
  ])('should return -EINVAL for %s', async (_what, from, to) => {
    const { mm, base, ps, dev } = await world('latest', 2);
    await mm.mmapLock.downRead();
    const args = new MigrateVma({
      vma: mm.findVma(base) ?? null,
      start: base + from * ps,
      end: base + to * ps,
      src: [0, 0, 0, 0],
      dst: [0, 0, 0, 0],
    });
    setSelect(mm, args, dev.owner, 'system');
    expect(await migrateVmaSetup(args)).toBe(-EINVAL);
    mm.mmapLock.upRead();
  });

  it('should return -EINVAL without a vma (a range outside any VMA)', async () => {
    const { mm, base, ps } = await world('latest', 1);
    await mm.mmapLock.downRead();
    expect(
      await migrateVmaSetup(new MigrateVma({ vma: mm.findVma(base + 100 * ps) ?? null, start: base + 100 * ps, end: base + 101 * ps })),
    ).toBe(-EINVAL);
    mm.mmapLock.upRead();
  });

  it('should throw for src and dst arrays shorter than the range', async () => {
    const { mm, base, ps, dev } = await world('latest', 2);
    await mm.mmapLock.downRead();
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + 2 * ps, src: [0], dst: [0] });
    setSelect(mm, args, dev.owner, 'system');
    await expect(migrateVmaSetup(args)).rejects.toMatchObject({
      code: 'ERR_BAD_ARGUMENT',
      message: expect.stringContaining('needs 2 in each'),
    });
    mm.mmapLock.upRead();
  });

  // A loop one entry past the range (`addr <= args.end`) reads src[npages]: in C whatever the
  // driver's array held there; here an error naming the index. The loop that stops at the end
  // passes, and the driver's array keeps its own size and the entries setup filled. Each kind
  // of array: a longer plain array and a typed array are seen through a checking view; a plain
  // array of exactly the range's entries is its own view.
  const arrays: [string, () => number[] | Float64Array][] = [
    ['a longer plain array', () => new Array<number>(8).fill(0)],
    ['a plain array of the range', () => new Array<number>(2).fill(0)],
    ['a Float64Array of the range', () => new Float64Array(2)],
  ];
  it.each(
    arrays.flatMap(
      ([kind, make]) =>
        [
          [kind, make, 'the loop that stops at the end', 2, null],
          [kind, make, 'the loop one step past the end', 3, 'read of src[2], past the range'],
        ] as const,
    ),
  )('should let the driver read src and write dst of the range only, in %s: %s', async (kind, make, _name, steps, error) => {
    const { k, mm, base, ps, dev } = await world('latest', 3);
    await mm.mmapLock.downRead();
    const src = make();
    const dst = make();
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + 2 * ps, src, dst });
    setSelect(mm, args, dev.owner, 'system');
    expect(await migrateVmaSetup(args)).toBe(0);
    expect(args.src === src).toBe(kind === 'a plain array of the range');
    // biome-ignore lint/suspicious/useIsArray: the prototype of a range's own array must keep it an instance of Array
    expect([Array.isArray(src), src instanceof Array]).toEqual(kind === 'a Float64Array of the range' ? [false, false] : [true, true]);
    const walk = () => {
      for (let i = 0; i < steps; i++) if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) args.dst[i] = 0;
    };
    if (error === null) expect(walk).not.toThrow();
    else expect(walk).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining(error) }));
    expect(() => {
      args.dst[2] = 1;
    }).toThrow(/write to dst\[2\], past the range/);
    expect([args.src.length, src.length, (src[0] as number) & MIGRATE_PFN_MIGRATE]).toEqual([2, make().length, MIGRATE_PFN_MIGRATE]);
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    mm.mmapLock.upRead();
    expect(k.pages.page(ptePfn(mm.pte(base))).kind).toBe('system');
  });

  it('should throw when pgmapOwner is a DevPagemap', async () => {
    const { mm, base, ps, dev } = await world('latest', 1);
    await mm.mmapLock.downRead();
    const args = new MigrateVma({
      vma: mm.findVma(base) ?? null,
      start: base,
      end: base + ps,
      src: [0],
      dst: [0],
      pgmapOwner: dev.pgmap,
      flags: MIGRATE_VMA_SELECT_SYSTEM,
    });
    await expect(migrateVmaSetup(args)).rejects.toMatchObject({
      code: 'ERR_BAD_ARGUMENT',
      message: expect.stringContaining('pass pgmap.owner'),
    });
    mm.mmapLock.upRead();
  });

  it('should throw when SELECT_DEVICE_PRIVATE comes with an undefined pgmapOwner', async () => {
    const { mm, base, ps } = await world('latest', 1);
    await mm.mmapLock.downRead();
    const args = new MigrateVma({
      vma: mm.findVma(base) ?? null,
      start: base,
      end: base + ps,
      src: [0],
      dst: [0],
      flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
    });
    await expect(migrateVmaSetup(args)).rejects.toMatchObject({
      code: 'ERR_BAD_ARGUMENT',
      message: expect.stringContaining('pgmapOwner is undefined'),
    });
    mm.mmapLock.upRead();
  });

  it('should throw without the mmap lock', async () => {
    const { mm, base, ps, dev } = await world('latest', 1);
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + ps, src: [0], dst: [0] });
    setSelect(mm, args, dev.owner, 'system');
    await expect(migrateVmaSetup(args)).rejects.toMatchObject({ code: 'ERR_NOT_LOCKED' });
  });

  it.each([
    ['flags on 5.8', '5.8' as const, { flags: MIGRATE_VMA_SELECT_SYSTEM }],
    ['srcOwner on latest', 'latest' as const, { srcOwner: {} }],
    ['SELECT_DEVICE_COHERENT on 5.14', '5.14' as const, { flags: MIGRATE_VMA_SELECT_DEVICE_COHERENT, pgmapOwner: {} }],
  ])('should throw a profile error for %s', async (_what, profile, fields) => {
    const { mm, base, ps } = await world(profile, 1);
    await mm.mmapLock.downRead();
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + ps, src: [0], dst: [0], ...fields });
    await expect(migrateVmaSetup(args)).rejects.toHaveProperty('code', expect.stringMatching(/ERR_PROFILE|ERR_BAD_ARGUMENT/));
    mm.mmapLock.upRead();
  });
});

describe('migrateVmaPages (bad input)', () => {
  async function setUp(): Promise<{ mm: Mm; args: MigrateVma; dev: TestDevice; k: Kernel }> {
    const { k, mm, base, ps, dev } = await world('latest', 1);
    await mm.mmapLock.downRead();
    const args = new MigrateVma({ vma: mm.findVma(base) ?? null, start: base, end: base + ps, src: [0], dst: [0] });
    setSelect(mm, args, dev.owner, 'system');
    await migrateVmaSetup(args);
    return { mm, args, dev, k };
  }

  it('should throw for a dst entry with MIGRATE_PFN_MIGRATE set', async () => {
    const { args, dev } = await setUp();
    const p = dev.allocPage();
    args.dst[0] = migratePfn(p?.pfn ?? 0) | MIGRATE_PFN_MIGRATE;
    await expect(migrateVmaPages(args)).rejects.toMatchObject({
      code: 'ERR_BAD_ARGUMENT',
      message: expect.stringContaining('flag bits 0x2'),
    });
  });

  it('should throw for a dst entry without VALID', async () => {
    const { args } = await setUp();
    args.dst[0] = MIGRATE_PFN_WRITE;
    await expect(migrateVmaPages(args)).rejects.toMatchObject({
      code: 'ERR_BAD_ARGUMENT',
      message: expect.stringContaining('lacks MIGRATE_PFN_VALID'),
    });
  });

  it('should throw for a dst page that is not locked', async () => {
    const { args, dev, k } = await setUp();
    const p = dev.allocPage();
    if (p !== null) k.pages.unlockPage(p);
    args.dst[0] = migratePfn(p?.pfn ?? 0);
    await expect(migrateVmaPages(args)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining('not locked') });
  });

  it('should throw when src was modified after setup', async () => {
    const { args } = await setUp();
    args.src[0] = 0;
    await expect(migrateVmaPages(args)).rejects.toMatchObject({ code: 'ERR_STATE' });
  });

  it('should throw when the steps run out of order', async () => {
    const { args, mm } = await setUp();
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    mm.mmapLock.upRead();
    await expect(migrateVmaPages(args)).rejects.toMatchObject({ code: 'ERR_STATE' });
    expect(() => migrateVmaFinalize(args)).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
  });
});

describe('collect of entries that never migrate', () => {
  it.each([
    ['a swap entry', PTE_SWAP],
    ['a device-exclusive entry', PTE_DEVICE_EXCLUSIVE],
  ])('should leave %s in place', async (_what, kind) => {
    const { k, mm, base, ps, dev } = await world('latest', 1);
    if (kind === PTE_SWAP) await mm.reclaim(base);
    else {
      await mm.mmapLock.downRead();
      const p = asPage(await makeDeviceExclusive(mm, base, dev.owner));
      mm.mmapLock.upRead();
      k.pages.unlockPage(p);
      k.pages.putPage(p);
    }
    const res = await migrate(dev, mm, base, base + ps, 'device');
    expect([res.cpages, res.src[0]]).toEqual([0, 0]);
    expect(pteKindOf(mm.pte(base))).toBe(kind);
  });
});

// ---- property: data survives any mix of migrations, CPU accesses and exclusive conversions ----

type MOp =
  | { op: 'write'; mm: number; page: number; word: number; value: number }
  | { op: 'read'; mm: number; page: number; word: number }
  | { op: 'toDevice' | 'toRam'; mm: number; dev: 0 | 1; page: number; n: number }
  | { op: 'exclusive' | 'reclaim'; mm: number; page: number }
  | { op: 'dontneed' | 'mprotect'; mm: number; page: number; n: number }
  | { op: 'evict'; dev: 0 | 1 }
  | { op: 'fork' };

const NPAGES = 6;
const WPP = 4;
const mmIdx = fc.nat({ max: 1 });
const pageIdx = fc.nat({ max: NPAGES - 1 });
const mopArb: fc.Arbitrary<MOp> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('write' as const),
      mm: mmIdx,
      page: pageIdx,
      word: fc.nat({ max: WPP - 1 }),
      value: fc.integer({ min: 1, max: 1 << 20 }),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant('read' as const), mm: mmIdx, page: pageIdx, word: fc.nat({ max: WPP - 1 }) }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constantFrom('toDevice' as const, 'toRam' as const),
      mm: mmIdx,
      dev: fc.constantFrom(0 as const, 1 as const),
      page: pageIdx,
      n: fc.integer({ min: 1, max: NPAGES }),
    }),
    weight: 4,
  },
  fc.record({ op: fc.constantFrom('exclusive' as const, 'reclaim' as const), mm: mmIdx, page: pageIdx }),
  fc.record({ op: fc.constantFrom('dontneed' as const, 'mprotect' as const), mm: mmIdx, page: pageIdx, n: fc.integer({ min: 1, max: 2 }) }),
  fc.record({ op: fc.constant('evict' as const), dev: fc.constantFrom(0 as const, 1 as const) }),
  fc.record({ op: fc.constant('fork' as const) }),
);

/** The entries `migrate_vma_setup` would migrate, from the page table alone (§3.4 and §3.6). */
function expectedCpages(mm: Mm, start: number, n: number, select: 'system' | 'device', owner: unknown): number {
  const k = mm.kernel;
  let c = 0;
  for (let i = 0; i < n; i++) {
    const e = mm.pte(start + i * k.pageSize);
    if (e === 0) {
      c++; // a hole in an anonymous VMA, whatever the selection
      continue;
    }
    const page = k.pages.pfnToPage(ptePfn(e));
    if (pteKindOf(e) === PTE_PRESENT) {
      if (select === 'system' && page !== undefined && (page.isZero || (page.kind === 'system' && !page.locked && page.pins === 0))) c++;
    } else if (pteKindOf(e) === PTE_DEVICE_PRIVATE) {
      if (select === 'device' && page?.pgmap?.owner === owner) c++;
    }
  }
  return c;
}

describe('migrateVmaSetup (property: data and cpages)', () => {
  test.prop([fc.constantFrom(...PROFILE_NAMES), fc.array(mopArb, { maxLength: 40 })], { numRuns: 200 })(
    'should keep every written word and migrate exactly the expected entries',
    async (profile, ops) => {
      const k = new Kernel({ trace: 'none', profile, pageSize: 256, wordsPerPage: WPP });
      const ps = k.pageSize;
      const parent = k.createMm();
      const devs = [createDevice(k, { name: 'A', pages: 8 }), createDevice(k, { name: 'B', pages: 8 })] as const;
      const base = await mapAnon(parent, NPAGES);
      const mms: Mm[] = [parent];
      const ghosts: Int32Array[] = [new Int32Array(NPAGES * WPP)];
      const wrong: string[] = [];
      for (const o of ops) {
        const i = 'mm' in o ? Math.min(o.mm, mms.length - 1) : 0;
        const mm = mms[i] as Mm;
        const ghost = ghosts[i] as Int32Array;
        switch (o.op) {
          case 'write':
            try {
              await mm.write(base + o.page * ps + o.word * k.wordSize, o.value);
              ghost[o.page * WPP + o.word] = o.value;
            } catch (e) {
              if (!(e instanceof SignalError)) throw e; // a read-only range
            }
            break;
          case 'read': {
            const v = await mm.read(base + o.page * ps + o.word * k.wordSize);
            if (v !== ghost[o.page * WPP + o.word])
              wrong.push(`mm ${i} page ${o.page} word ${o.word}: read ${v}, expected ${ghost[o.page * WPP + o.word]}`);
            break;
          }
          case 'toDevice':
          case 'toRam': {
            const dev = devs[o.dev];
            const n = Math.min(o.n, NPAGES - o.page);
            const start = base + o.page * ps;
            if (mm.vmasIn(start, start + n * ps).length !== 1) break; // the range must lie in one VMA
            const want = expectedCpages(mm, start, n, o.op === 'toDevice' ? 'system' : 'device', dev.owner);
            const res = await migrate(dev, mm, start, start + n * ps, o.op === 'toDevice' ? 'device' : 'ram');
            expect(res.ret).toBe(0);
            if (res.cpages !== want)
              wrong.push(`${o.op} mm ${i} ${dev.pgmap.name} [${o.page}, +${n}): cpages ${res.cpages}, expected ${want}`);
            break;
          }
          case 'exclusive': {
            if (mm.profile.exclusive === null) break;
            await mm.mmapLock.downRead();
            const va = base + o.page * ps;
            if (mm.profile.exclusive === 'single') {
              const p = await makeDeviceExclusive(mm, va, devs[0].owner);
              if (typeof p !== 'number') {
                k.pages.unlockPage(p);
                k.pages.putPage(p);
              }
            } else {
              const pages: (Page | null)[] = [null];
              await makeDeviceExclusiveRange(mm, va, va + ps, pages, devs[0].owner);
              if (pages[0] !== null && pages[0] !== undefined) {
                k.pages.unlockPage(pages[0]);
                k.pages.putPage(pages[0]);
              }
            }
            mm.mmapLock.upRead();
            break;
          }
          case 'reclaim':
            await mm.reclaim(base + o.page * ps);
            break;
          case 'dontneed':
          case 'mprotect': {
            const n = Math.min(o.n, NPAGES - o.page);
            if (o.op === 'dontneed') {
              await mm.madvise(base + o.page * ps, n * ps, MADV_DONTNEED);
              ghost.fill(0, o.page * WPP, (o.page + n) * WPP);
            } else {
              const ro = mm.findVma(base + o.page * ps)?.writable ?? false;
              await mm.mprotect(base + o.page * ps, n * ps, ro ? PROT_READ : PROT_READ | PROT_WRITE);
            }
            break;
          }
          case 'fork':
            if (mms.length === 1) {
              mms.push(await parent.fork());
              ghosts.push(ghosts[0]?.slice() as Int32Array);
            }
            break;
          case 'evict': {
            if (!k.profile.faultPage) break;
            const dev = devs[o.dev];
            const n = dev.pgmap.pages.length;
            const src = new Array<number>(n).fill(0);
            await migrateDeviceRange(k, src, dev.pgmap.startPfn, n);
            const dst = src.map((s) => {
              const from = migratePfnToPage(k, s);
              if (from === null) return 0;
              const p = k.pages.allocPage();
              k.pages.trylockPage(p);
              k.pages.copyPage(p, from, 'evict');
              return migratePfn(p.pfn);
            });
            await migrateDevicePages(k, src, dst, n);
            migrateDeviceFinalize(k, src, dst, n);
            break;
          }
        }
        const broken = checkMmInvariants(k, { quiescent: true });
        if (broken.length > 0) wrong.push(`after ${JSON.stringify(o)}: ${broken.join('; ')}`);
        if (wrong.length > 0) break;
      }
      expect(wrong).toEqual([]);
      for (const [i, mm] of mms.entries()) {
        expect(Array.from(await mm.readRange(base, NPAGES * WPP)), `mm ${i}`).toEqual(Array.from(ghosts[i] as Int32Array));
      }
    },
  );
});

describe('migrateVmaSetup (swap cache)', () => {
  it('should count a swap-cache page in cpages and drop it in migrateVmaPages while its slot is shared', async () => {
    const k = new Kernel();
    const ps = k.pageSize;
    const mm = k.createMm();
    const dev = createDevice(k);
    const base = await mapAnon(mm, 1);
    await mm.write(base, 31);
    const child = await mm.fork();
    expect(await mm.reclaim(base)).toBe(0);
    expect(await mm.read(base)).toBe(31); // swapped in; the child's swap entry keeps the slot
    expect(mm.pageAt(base)?.swapSlot).not.toBe(0);
    const res = await migrate(dev, mm, base, base + ps, 'device');
    expect([res.cpages, res.migrated]).toEqual([1, 0]);
    expect(pteKindOf(mm.pte(base))).toBe(PTE_PRESENT);
    expect([await mm.read(base), await child.read(base)]).toEqual([31, 31]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });
});

describe('migrateVmaSetup (property: races with CPU operations)', () => {
  type COp =
    | { op: 'write' | 'read'; page: number; value: number }
    | { op: 'dontneed' | 'free' | 'mprotect' | 'munmap' | 'reclaim' | 'compact' | 'fork' | 'oom'; page: number; n: number };
  type DOp = { op: 'toDevice' | 'toRam' | 'exclusive' | 'evict' | 'snapshot'; dev: 0 | 1; page: number; n: number };
  const cop: fc.Arbitrary<COp> = fc.oneof(
    fc.record({
      op: fc.constantFrom('write' as const, 'read' as const),
      page: fc.nat({ max: NPAGES - 1 }),
      value: fc.integer({ min: 1, max: 999 }),
    }),
    fc.record({
      op: fc.constantFrom(
        'dontneed' as const,
        'free' as const,
        'mprotect' as const,
        'munmap' as const,
        'reclaim' as const,
        'compact' as const,
        'fork' as const,
        'oom' as const,
      ),
      page: fc.nat({ max: NPAGES - 1 }),
      n: fc.integer({ min: 1, max: 3 }),
    }),
  );
  const dop: fc.Arbitrary<DOp> = fc.record({
    op: fc.constantFrom('toDevice' as const, 'toRam' as const, 'exclusive' as const, 'evict' as const, 'snapshot' as const),
    dev: fc.constantFrom(0 as const, 1 as const),
    page: fc.nat({ max: NPAGES - 1 }),
    n: fc.integer({ min: 1, max: NPAGES }),
  });

  test.prop(
    [
      fc.array(cop, { maxLength: 12 }),
      fc.array(dop, { maxLength: 8 }),
      fc.array(dop, { maxLength: 4 }),
      fc.array(fc.nat({ max: 4 }), { maxLength: 150 }),
    ],
    {
      numRuns: 150,
    },
  )('should keep every invariant at every step and finish cleanly', async (cpuOps, drvOps, drv2Ops, decisions) => {
    const k = new Kernel({ trace: 'none', pageSize: 256, wordsPerPage: WPP });
    const ps = k.pageSize;
    const mm = k.createMm();
    const devs = [createDevice(k, { name: 'A', pages: 12 }), createDevice(k, { name: 'B', pages: 12 })] as const;
    const base = await mapAnon(mm, NPAGES);
    const sub = new MmuIntervalNotifier('mirror');
    await mmuIntervalNotifierInsert(sub, mm, base, NPAGES * ps, {
      invalidate(mni, _r, cur) {
        mmuIntervalSetSeq(mni, cur);
        return true;
      },
    });
    const broken: string[] = [];
    k.trace.subscribe((ev) => {
      if (ev.type === 'switch' && broken.length === 0) broken.push(...checkMmInvariants(k).map((b) => `step ${ev.step}: ${b}`));
    });
    k.spawn('cpu', 'cpu', async () => {
      for (const o of cpuOps) {
        const va = base + o.page * ps;
        try {
          switch (o.op) {
            case 'write':
              await mm.write(va, o.value);
              break;
            case 'read':
              await mm.read(va);
              break;
            case 'dontneed':
            case 'free':
              await mm.madvise(va, o.n * ps, o.op === 'dontneed' ? MADV_DONTNEED : 8);
              break;
            case 'mprotect':
              await mm.mprotect(va, o.n * ps, o.n === 1 ? PROT_READ : PROT_READ | PROT_WRITE);
              break;
            case 'munmap':
              await mm.munmap(va, o.n * ps);
              break;
            case 'reclaim':
              await mm.reclaim(va);
              break;
            case 'compact': {
              const p = mm.pageAt(va);
              if (p !== undefined && p.kind === 'system' && pteKindOf(mm.pte(va)) === PTE_PRESENT) await compactPage(k, p);
              break;
            }
            case 'fork':
              if (k.allMms().length < 3) await mm.fork();
              break;
            case 'oom':
              await oomReap(mm);
              break;
          }
        } catch (e) {
          if (!(e instanceof SignalError)) throw e;
        }
      }
    });
    const driver = (ops: DOp[]) => async (): Promise<void> => {
      for (const o of ops) {
        const dev = devs[o.dev];
        const start = base + o.page * ps;
        const end = start + Math.min(o.n, NPAGES - o.page) * ps;
        switch (o.op) {
          case 'toDevice':
          case 'toRam':
            await migrate(dev, mm, start, end, o.op === 'toDevice' ? 'device' : 'ram');
            break;
          case 'exclusive': {
            await mm.mmapLock.downRead();
            const p = await makeDeviceExclusive(mm, start, dev.owner);
            mm.mmapLock.upRead();
            if (typeof p !== 'number') {
              k.pages.unlockPage(p);
              k.pages.putPage(p);
            }
            break;
          }
          case 'snapshot': {
            const n = (end - start) / ps;
            for (let tries = 0; tries < 3; tries++) {
              const range = {
                notifier: sub,
                notifierSeq: await mmuIntervalReadBegin(sub),
                start,
                end,
                hmmPfns: new Array(n).fill(0),
                defaultFlags: HMM_PFN_REQ_FAULT,
                pfnFlagsMask: 0,
                devPrivateOwner: dev.owner,
              };
              await mm.mmapLock.downRead();
              const ret = await hmmRangeFault(range);
              mm.mmapLock.upRead();
              if (ret !== -16) break;
            }
            break;
          }
          case 'evict': {
            const n = dev.pgmap.pages.length;
            const src = new Array<number>(n).fill(0);
            await migrateDeviceRange(k, src, dev.pgmap.startPfn, n);
            const dst = src.map((s) => {
              const from = migratePfnToPage(k, s);
              if (from === null) return 0;
              const p = k.pages.allocPage();
              k.pages.trylockPage(p);
              k.pages.copyPage(p, from, 'evict');
              return migratePfn(p.pfn);
            });
            await migrateDevicePages(k, src, dst, n);
            migrateDeviceFinalize(k, src, dst, n);
            break;
          }
        }
      }
    };
    k.spawn('driver', 'driver', driver(drvOps));
    k.spawn('driver 2', 'driver', driver(drv2Ops));
    const r = await k.run(arrayDecisions(decisions));
    expect(r.status, r.message).toBe('done');
    expect(broken).toEqual([]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });
});

describe('migrateVmaSetup (property: no write is lost to a racing migration)', () => {
  type CpuOp = { op: 'write' | 'read'; page: number; word: number; value: number } | { op: 'dontneed'; page: number };
  type DrvOp = { op: 'toDevice' | 'toRam' | 'exclusive' | 'evict' | 'reclaim' | 'compact'; dev: 0 | 1; page: number; n: number };
  const cpuOp: fc.Arbitrary<CpuOp> = fc.oneof(
    {
      arbitrary: fc.record({
        op: fc.constantFrom('write' as const, 'read' as const),
        page: pageIdx,
        word: fc.nat({ max: WPP - 1 }),
        value: fc.integer({ min: 1, max: 1 << 20 }),
      }),
      weight: 6,
    },
    fc.record({ op: fc.constant('dontneed' as const), page: pageIdx }),
  );
  const drvOp: fc.Arbitrary<DrvOp> = fc.record({
    op: fc.constantFrom(
      'toDevice' as const,
      'toRam' as const,
      'exclusive' as const,
      'evict' as const,
      'reclaim' as const,
      'compact' as const,
    ),
    dev: fc.constantFrom(0 as const, 1 as const),
    page: pageIdx,
    n: fc.integer({ min: 1, max: NPAGES }),
  });

  test.prop(
    [
      fc.array(cpuOp, { maxLength: 25 }),
      fc.array(drvOp, { maxLength: 10 }),
      fc.array(drvOp, { maxLength: 6 }),
      fc.array(fc.nat({ max: 3 }), { maxLength: 200 }),
    ],
    {
      numRuns: 150,
    },
  )('should read back every value the CPU wrote, whatever the interleaving', async (cpuOps, drvA, drvB, decisions) => {
    const k = new Kernel({ trace: 'none', pageSize: 256, wordsPerPage: WPP });
    const ps = k.pageSize;
    const mm = k.createMm();
    const devs = [createDevice(k, { name: 'A', pages: 12 }), createDevice(k, { name: 'B', pages: 12 })] as const;
    const base = await mapAnon(mm, NPAGES);
    const ghost = new Int32Array(NPAGES * WPP);
    const wrong: string[] = [];
    k.spawn('cpu', 'cpu', async () => {
      for (const o of cpuOps) {
        const va = base + o.page * ps;
        if (o.op === 'dontneed') {
          await mm.madvise(va, ps, MADV_DONTNEED);
          ghost.fill(0, o.page * WPP, (o.page + 1) * WPP);
        } else if (o.op === 'write') {
          await mm.write(va + o.word * k.wordSize, o.value);
          ghost[o.page * WPP + o.word] = o.value;
        } else {
          const v = await mm.read(va + o.word * k.wordSize);
          if (v !== ghost[o.page * WPP + o.word])
            wrong.push(`page ${o.page} word ${o.word}: read ${v}, expected ${ghost[o.page * WPP + o.word]}`);
        }
      }
    });
    const driver = (ops: DrvOp[]) => async (): Promise<void> => {
      for (const o of ops) {
        const dev = devs[o.dev];
        const start = base + o.page * ps;
        const end = start + Math.min(o.n, NPAGES - o.page) * ps;
        if (o.op === 'toDevice' || o.op === 'toRam') await migrate(dev, mm, start, end, o.op === 'toDevice' ? 'device' : 'ram');
        else if (o.op === 'reclaim') await mm.reclaim(start);
        else if (o.op === 'compact') {
          const p = mm.pageAt(start);
          if (p !== undefined && p.kind === 'system' && pteKindOf(mm.pte(start)) === PTE_PRESENT) await compactPage(k, p);
        } else if (o.op === 'exclusive') {
          await mm.mmapLock.downRead();
          const p = await makeDeviceExclusive(mm, start, dev.owner);
          mm.mmapLock.upRead();
          if (typeof p !== 'number') {
            k.pages.unlockPage(p);
            k.pages.putPage(p);
          }
        } else {
          const n = dev.pgmap.pages.length;
          const src = new Array<number>(n).fill(0);
          await migrateDeviceRange(k, src, dev.pgmap.startPfn, n);
          const dst = src.map((s) => {
            const from = migratePfnToPage(k, s);
            if (from === null) return 0;
            const p = k.pages.allocPage();
            k.pages.trylockPage(p);
            k.pages.copyPage(p, from, 'evict');
            return migratePfn(p.pfn);
          });
          await migrateDevicePages(k, src, dst, n);
          migrateDeviceFinalize(k, src, dst, n);
        }
      }
    };
    k.spawn('driver A', 'driver', driver(drvA));
    k.spawn('driver B', 'driver', driver(drvB));
    const r = await k.run(arrayDecisions(decisions));
    expect(r.status, r.message).toBe('done');
    expect(wrong).toEqual([]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
    expect(Array.from(await mm.readRange(base, NPAGES * WPP))).toEqual(Array.from(ghost));
  });
});

// mm/migrate.c remove_migration_pte builds the new entry from vma->vm_page_prot.
describe('remove_migration_ptes in a PROT_NONE VMA of another process', () => {
  it.each([
    ['PROT_NONE in the child', PROT_NONE, 'SIGSEGV'],
    ['readable in the child', PROT_READ, 'ok'],
  ] as const)('should leave the child %s after the parent migrates the page back', async (_what, childProt, want) => {
    const { mm, base, ps, dev } = await world('6.1', 1);
    expect((await migrate(dev, mm, base, base + ps, 'device')).cpages).toBe(1);
    expect(await mm.mprotect(base, ps, childProt)).toBe(0);
    const child = await mm.fork();
    expect(await mm.mprotect(base, ps, PROT_READ | PROT_WRITE)).toBe(0);
    expect((await migrate(dev, mm, base, base + ps, 'ram')).cpages).toBe(1);
    const got = await child.read(base).then(
      () => 'ok',
      (e: unknown) => (e instanceof SignalError ? e.signal : String(e)),
    );
    expect(got).toBe(want);
  });
});
