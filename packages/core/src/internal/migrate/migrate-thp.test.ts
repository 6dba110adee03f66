/**
 * Device-private THP migration on profile `latest` (mm/migrate_device.c with
 * `MIGRATE_VMA_SELECT_COMPOUND`): the huge PMD collect, compound destinations, the split fallback
 * when the destination is base pages, the device-private PMD, its CPU fault, and what
 * `hmm_range_fault` reports for it. Profile 6.1 has none of it.
 */
import { describe, expect, it } from 'vitest';
import { HmmlabError } from '../errors.js';
import { HMM_PFN_REQ_FAULT, type HmmRange, hmmPfnToMapOrder, hmmRangeFault } from '../hmm/hmm-range-fault.js';
import { Kernel } from '../kernel.js';
import { MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, ULONG_MAX } from '../mm/constants.js';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER } from '../mm/huge.js';
import type { Mm } from '../mm/mm.js';
import type { Page } from '../mm/page.js';
import { PTE_DEVICE_PRIVATE, PTE_MIGRATION, PTE_PRESENT, pteKindOf, ptePfn, pteWrite } from '../mm/pte.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert, mmuIntervalReadBegin, mmuIntervalSetSeq } from '../notifier/interval-notifier.js';
import type { ProfileName } from '../profile.js';
import { checkMmInvariants } from '../test-invariants.js';
import { MEMORY_DEVICE_PRIVATE, memremapPages, type VmFault, zoneDeviceFolioInit, zoneDevicePageInit } from './memremap.js';
import { migrateDeviceFinalize, migrateDevicePages, migrateDeviceRange } from './migrate-device.js';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnToPage,
} from './migrate-pfn.js';
import { MigrateVma, migrateVmaFinalize, migrateVmaPages, migrateVmaSetup } from './migrate-vma.js';

const HUGE = 2 << 20;
const OWNER = { device: 'thp-dev' };

interface World {
  k: Kernel;
  mm: Mm;
  huge: number;
  ps: number;
  free: Page[];
  faults: VmFault[];
  /** `dmirror_devmem_alloc_page(mdevice, is_huge)`: an aligned device folio, or a base page. */
  alloc(huge: boolean): Page | null;
}

async function world(profile: ProfileName = 'latest'): Promise<World> {
  const k = new Kernel({ profile });
  const mm = k.createMm();
  const base = await mm.mmap(0, 3 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const huge = Math.ceil(base / HUGE) * HUGE;
  expect(await mm.madvise(huge, HUGE, MADV_HUGEPAGE)).toBe(0);
  const free: Page[] = [];
  const faults: VmFault[] = [];
  const w: World = {
    k,
    mm,
    huge,
    ps: k.pageSize,
    free,
    faults,
    alloc(huge: boolean): Page | null {
      if (!huge) {
        const p = free.pop();
        if (p !== undefined) zoneDevicePageInit(p);
        return p ?? null;
      }
      const pfns = new Set(free.map((p) => p.pfn));
      const head = free.find(
        (p) => p.pfn % HPAGE_PMD_NR === 0 && Array.from({ length: HPAGE_PMD_NR }, (_, j) => pfns.has(p.pfn + j)).every(Boolean),
      );
      if (head === undefined) return null;
      for (let j = free.length - 1; j >= 0; j--) {
        const f = (free[j] as Page).pfn;
        if (f >= head.pfn && f < head.pfn + HPAGE_PMD_NR) free.splice(j, 1);
      }
      zoneDeviceFolioInit(head, HPAGE_PMD_ORDER);
      return head;
    },
  };
  const pgmap = memremapPages(k, {
    type: MEMORY_DEVICE_PRIVATE,
    owner: OWNER,
    nrPages: 3 * HPAGE_PMD_NR,
    name: 'thp-dev',
    ops: {
      pageFree(p) {
        free.push(p);
      },
      async migrateToRam(vmf: VmFault) {
        faults.push(vmf);
        // dmirror_devmem_fault: the whole folio from a PMD, one page from a PTE.
        const nr = vmf.pmd === true ? 2 ** vmf.page.folio.order : 1;
        const start = vmf.address - (vmf.address % (nr * k.pageSize));
        const args = new MigrateVma({
          vma: vmf.vma,
          start,
          end: start + nr * k.pageSize,
          src: new Array(nr).fill(0),
          dst: new Array(nr).fill(0),
          pgmapOwner: OWNER,
          flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE | MIGRATE_VMA_SELECT_COMPOUND,
          faultPage: vmf.page,
        });
        expect(await migrateVmaSetup(args)).toBe(0);
        fillDst(w, args, 'ram', true);
        await migrateVmaPages(args);
        migrateVmaFinalize(args);
        return 0;
      },
    },
  });
  for (let i = pgmap.nrPages - 1; i >= 0; i--) free.push(pgmap.page(i));
  return w;
}

/**
 * The driver's allocate-and-copy step: a compound destination for a compound source when
 * `compound`, else one base page per entry of it (the `HMM_DMIRROR_FLAG_FAIL_ALLOC` fallback).
 */
function fillDst(w: World, args: MigrateVma, to: 'device' | 'ram', compound: boolean): void {
  const k = w.k;
  for (let i = 0; i < args.npages; i++) {
    const s = args.src[i] as number;
    if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
    const spage = migratePfnToPage(k, s);
    const isHuge = (s & MIGRATE_PFN_COMPOUND) !== 0;
    const nr = isHuge ? HPAGE_PMD_NR : 1;
    const write = s & MIGRATE_PFN_WRITE;
    if (isHuge && compound) {
      const d = to === 'device' ? w.alloc(true) : k.pages.allocFolio(HPAGE_PMD_ORDER);
      if (d === null) throw new Error('no device folio left');
      if (!d.locked) k.pages.trylockPage(d);
      for (let j = 0; j < nr; j++) {
        const dp = k.pages.page(d.pfn + j);
        if (spage !== null) k.pages.copyPage(dp, k.pages.page(spage.pfn + j), 'test');
        else dp.words.fill(0);
      }
      args.dst[i] = migratePfn(d.pfn) + write + MIGRATE_PFN_COMPOUND;
    } else {
      for (let j = 0; j < nr; j++) {
        const d = to === 'device' ? w.alloc(false) : k.pages.allocPage({ zero: true });
        if (d === null) throw new Error('no device page left');
        if (!d.locked) k.pages.trylockPage(d);
        if (spage !== null) k.pages.copyPage(d, k.pages.page(spage.pfn + j), 'test');
        args.dst[i + j] = migratePfn(d.pfn) + write;
      }
    }
    i += nr - 1;
  }
}

interface Migration {
  args: MigrateVma;
  /** `src` right after setup. */
  src: number[];
}

/** Migrates `[w.huge, w.huge + 2 MiB)` to the device with `MIGRATE_VMA_SELECT_COMPOUND`. */
async function toDevice(w: World, compound: boolean, dst = true): Promise<Migration> {
  await w.mm.mmapLock.downRead();
  try {
    const args = new MigrateVma({
      vma: w.mm.findVma(w.huge) ?? null,
      start: w.huge,
      end: w.huge + HUGE,
      src: new Array(HPAGE_PMD_NR).fill(0),
      dst: new Array(HPAGE_PMD_NR).fill(0),
      pgmapOwner: OWNER,
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
    });
    expect(await migrateVmaSetup(args)).toBe(0);
    const src = Array.from({ length: args.npages }, (_, i) => args.src[i] as number);
    if (dst) fillDst(w, args, 'device', compound);
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    return { args, src };
  } finally {
    w.mm.mmapLock.upRead();
  }
}

async function fillThp(w: World): Promise<Page> {
  for (let i = 0; i < HPAGE_PMD_NR; i++) await w.mm.write(w.huge + i * w.ps, 1000 + i);
  expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('thp');
  return w.k.pages.page(ptePfn(w.mm.pte(w.huge)));
}

function kinds(w: World): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < HPAGE_PMD_NR; i++) out.add(pteKindOf(w.mm.pte(w.huge + i * w.ps)));
  return out;
}

describe('migrate_vma_collect_huge_pmd (profile latest, MIGRATE_VMA_SELECT_COMPOUND)', () => {
  it('should collect a PMD-mapped THP as one compound entry behind a PMD migration entry', async () => {
    const w = await world();
    const head = await fillThp(w);
    await w.mm.mmapLock.downRead();
    const args = new MigrateVma({
      vma: w.mm.findVma(w.huge) ?? null,
      start: w.huge,
      end: w.huge + HUGE,
      src: new Array(HPAGE_PMD_NR).fill(0),
      dst: new Array(HPAGE_PMD_NR).fill(0),
      pgmapOwner: OWNER,
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
    });
    expect(await migrateVmaSetup(args)).toBe(0);
    expect(args.cpages).toBe(1);
    expect(args.npages).toBe(HPAGE_PMD_NR);
    expect(args.src[0]).toBe(migratePfn(head.pfn) + MIGRATE_PFN_MIGRATE + MIGRATE_PFN_COMPOUND + MIGRATE_PFN_WRITE);
    for (let i = 1; i < HPAGE_PMD_NR; i++) expect(args.src[i]).toBe(0);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('migration');
    expect(kinds(w)).toEqual(new Set([PTE_MIGRATION]));
    expect(head.order).toBe(HPAGE_PMD_ORDER);
    // No destination: finalize puts the THP back, whole.
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    w.mm.mmapLock.upRead();
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('thp');
    expect(head.order).toBe(HPAGE_PMD_ORDER);
    expect(await w.mm.read(w.huge + 7 * w.ps)).toBe(1007);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('should move a THP whole to a device folio mapped by a device-private PMD, reported with map order 9', async () => {
    const w = await world();
    const old = await fillThp(w);
    const { args } = await toDevice(w, true);
    const dhead = migratePfnToPage(w.k, args.dst[0] as number) as Page;
    expect(dhead.isDevicePrivate).toBe(true);
    expect(dhead.order).toBe(HPAGE_PMD_ORDER);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('device-private');
    expect(kinds(w)).toEqual(new Set([PTE_DEVICE_PRIVATE]));
    expect(ptePfn(w.mm.pte(w.huge + 3 * w.ps))).toBe(dhead.pfn + 3);
    expect(old.free).toBe(true);
    expect(checkMmInvariants(w.k)).toEqual([]);
    // hmm_range_fault of the owner: device-private entries of order 9 (hmm_vma_handle_absent_pmd).
    const sub = new MmuIntervalNotifier('mirror');
    await mmuIntervalNotifierInsert(sub, w.mm, 0, ULONG_MAX, {
      invalidate(mni, _r, cur) {
        mmuIntervalSetSeq(mni, cur);
        return true;
      },
    });
    const range: HmmRange = {
      notifier: sub,
      notifierSeq: await mmuIntervalReadBegin(sub),
      start: w.huge,
      end: w.huge + 4 * w.ps,
      hmmPfns: new Array(4).fill(0),
      defaultFlags: HMM_PFN_REQ_FAULT,
      pfnFlagsMask: 0,
      devPrivateOwner: OWNER,
    };
    await w.mm.mmapLock.downRead();
    expect(await hmmRangeFault(range)).toBe(0);
    w.mm.mmapLock.upRead();
    expect(hmmPfnToMapOrder(range.hmmPfns[2] as number)).toBe(HPAGE_PMD_ORDER);
  });

  it('should fault a device-private PMD back as one folio: migrate_to_ram gets the head, with pmd set', async () => {
    const w = await world();
    await fillThp(w);
    const { args } = await toDevice(w, true);
    const dhead = migratePfnToPage(w.k, args.dst[0] as number) as Page;
    expect(await w.mm.read(w.huge + 300 * w.ps)).toBe(1300);
    expect(w.faults.length).toBe(1);
    expect(w.faults[0]?.page).toBe(dhead);
    expect(w.faults[0]?.pmd).toBe(true);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('thp');
    expect(kinds(w)).toEqual(new Set([PTE_PRESENT]));
    expect(await w.mm.read(w.huge + 511 * w.ps)).toBe(1511);
    expect(dhead.free).toBe(true);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('should split the source folio when the destination is base pages (migrate_vma_split_unmapped_folio)', async () => {
    const w = await world();
    const old = await fillThp(w);
    const { args, src } = await toDevice(w, false);
    expect((src[0] as number) & MIGRATE_PFN_COMPOUND).toBe(MIGRATE_PFN_COMPOUND);
    let migrating = 0;
    for (let i = 0; i < HPAGE_PMD_NR; i++) if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) migrating++;
    expect(migrating).toBe(HPAGE_PMD_NR);
    expect(w.mm.hugePmds.has(w.huge / HUGE)).toBe(false);
    expect(old.order).toBe(0);
    expect(kinds(w)).toEqual(new Set([PTE_DEVICE_PRIVATE]));
    // One page faults back alone.
    expect(await w.mm.read(w.huge + 9 * w.ps)).toBe(1009);
    expect(w.faults[0]?.pmd).toBeUndefined();
    expect(pteKindOf(w.mm.pte(w.huge + 10 * w.ps))).toBe(PTE_DEVICE_PRIVATE);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('should fill a PMD-sized hole with a device-private PMD, or with base pages entry by entry', async () => {
    for (const compound of [true, false]) {
      const w = await world();
      const { src } = await toDevice(w, compound);
      expect(src[0]).toBe(MIGRATE_PFN_MIGRATE + MIGRATE_PFN_COMPOUND);
      expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe(compound ? 'device-private' : undefined);
      expect(kinds(w)).toEqual(new Set([PTE_DEVICE_PRIVATE]));
      expect(await w.mm.read(w.huge + 5 * w.ps)).toBe(0);
      expect(checkMmInvariants(w.k)).toEqual([]);
    }
  });

  it('should replace a huge zero PMD (collected as a compound hole)', async () => {
    const w = await world();
    expect(await w.mm.read(w.huge)).toBe(0);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('zero');
    const { src } = await toDevice(w, true);
    expect(src[0]).toBe(MIGRATE_PFN_MIGRATE + MIGRATE_PFN_COMPOUND);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('device-private');
    expect(checkMmInvariants(w.k)).toEqual([]);
  });
});

describe('a device-private PMD another owner selects', () => {
  it.each([0, MIGRATE_VMA_SELECT_COMPOUND])('should be skipped whole, not split (flags | %i)', async (compound) => {
    const w = await world();
    await fillThp(w);
    await toDevice(w, true);
    await w.mm.mmapLock.downRead();
    const args = new MigrateVma({
      vma: w.mm.findVma(w.huge) ?? null,
      start: w.huge,
      end: w.huge + HUGE,
      src: new Array(HPAGE_PMD_NR).fill(0),
      dst: new Array(HPAGE_PMD_NR).fill(0),
      pgmapOwner: { device: 'another' },
      flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE | compound,
    });
    expect(await migrateVmaSetup(args)).toBe(0);
    expect(args.cpages).toBe(0);
    expect(args.npages).toBe(HPAGE_PMD_NR);
    migrateVmaFinalize(args);
    w.mm.mmapLock.upRead();
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('device-private');
    expect(checkMmInvariants(w.k)).toEqual([]);
  });
});

describe('fork of a device-private PMD (copy_huge_pmd)', () => {
  it('should share the device folio with the child, both PMDs read-only, and fault it back from either', async () => {
    const w = await world();
    await fillThp(w);
    await toDevice(w, true);
    const child = await w.mm.fork();
    expect(child.hugePmds.get(w.huge / HUGE)).toBe('device-private');
    expect(pteWrite(w.mm.pte(w.huge))).toBe(false);
    expect(pteWrite(child.pte(w.huge))).toBe(false);
    // The child's fault moves the folio back for both (try_to_migrate of the parent's PMD too).
    expect(await child.read(w.huge + 3 * w.ps)).toBe(1003);
    expect(w.faults.length).toBe(1);
    expect(child.hugePmds.get(w.huge / HUGE)).toBe('thp');
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('thp');
    expect(ptePfn(w.mm.pte(w.huge + 4 * w.ps))).toBe(ptePfn(child.pte(w.huge + 4 * w.ps)));
    expect(await w.mm.read(w.huge + 4 * w.ps)).toBe(1004);
    expect(w.faults.length).toBe(1);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });
});

describe('migrate_device_range over a device-private THP (eviction)', () => {
  it('should bring every page of the folio back to system memory and leave no device-private PMD', async () => {
    const w = await world();
    await fillThp(w);
    const { args } = await toDevice(w, true);
    const dhead = migratePfnToPage(w.k, args.dst[0] as number) as Page;
    const n = HPAGE_PMD_NR;
    const src: number[] = new Array(n).fill(0);
    const dst: number[] = new Array(n).fill(0);
    await migrateDeviceRange(w.k, src, dhead.pfn, n);
    for (let i = 0; i < n; i++) {
      const spage = migratePfnToPage(w.k, src[i] as number);
      if (spage === null || ((src[i] as number) & MIGRATE_PFN_MIGRATE) === 0) continue;
      const d = w.k.pages.allocPage({ zero: false });
      w.k.pages.trylockPage(d);
      w.k.pages.copyPage(d, spage, 'evict');
      dst[i] = migratePfn(d.pfn) + ((src[i] as number) & MIGRATE_PFN_WRITE);
    }
    await migrateDevicePages(w.k, src, dst, n);
    migrateDeviceFinalize(w.k, src, dst, n);
    expect(w.mm.hugePmds.has(w.huge / HUGE)).toBe(false);
    expect(kinds(w)).toEqual(new Set([PTE_PRESENT]));
    expect(await w.mm.read(w.huge + 77 * w.ps)).toBe(1077);
    expect(dhead.free).toBe(true);
    expect(w.faults.length).toBe(0);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });
});

describe('profile 6.1: no device THP', () => {
  it('should refuse MIGRATE_VMA_SELECT_COMPOUND and large device folios, and split the THP into base pages as before', async () => {
    const w = await world('6.1');
    await fillThp(w);
    await w.mm.mmapLock.downRead();
    const args = new MigrateVma({
      vma: w.mm.findVma(w.huge) ?? null,
      start: w.huge,
      end: w.huge + HUGE,
      src: new Array(HPAGE_PMD_NR).fill(0),
      dst: new Array(HPAGE_PMD_NR).fill(0),
      pgmapOwner: OWNER,
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
    });
    await expect(migrateVmaSetup(args)).rejects.toThrow(HmmlabError);
    await expect(migrateVmaSetup(args)).rejects.toThrow(/unknown MIGRATE_VMA_SELECT_\* bits for profile 6\.1/);
    args.flags = MIGRATE_VMA_SELECT_SYSTEM;
    expect(await migrateVmaSetup(args)).toBe(0);
    // 6.1 splits the THP (migrate_vma_collect_pmd: split_folio) and collects its 512 base pages.
    expect(args.cpages).toBe(HPAGE_PMD_NR);
    expect(args.src[0] as number).not.toBe(0);
    expect((args.src[0] as number) & MIGRATE_PFN_COMPOUND).toBe(0);
    expect(w.mm.hugePmds.size).toBe(0);
    migrateVmaFinalize(args);
    w.mm.mmapLock.upRead();
    const head = w.free[w.free.length - 1] as Page;
    expect(() => zoneDeviceFolioInit(head, HPAGE_PMD_ORDER)).toThrow(/do not exist in profile 6\.1/);
  });
});
