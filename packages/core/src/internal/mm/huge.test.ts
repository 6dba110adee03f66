import { describe, expect, it } from 'vitest';
import { EBUSY, EINVAL, ENOMEM } from '../errors.js';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  type HmmRange,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
  hmmRangeFault,
} from '../hmm/hmm-range-fault.js';
import { Kernel, type KernelOptions } from '../kernel.js';
import { makeDeviceExclusive, makeDeviceExclusiveRange } from '../migrate/device-exclusive.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert, mmuIntervalReadBegin, mmuIntervalSetSeq } from '../notifier/interval-notifier.js';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_EXCLUSIVE, MMU_NOTIFY_PROTECTION_VMA, MMU_NOTIFY_UNMAP } from '../notifier/range.js';
import type { ProfileName } from '../profile.js';
import { asPage, createDevice, migrate, runDone } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
  ULONG_MAX,
} from './constants.js';
import { HPAGE_PMD_NR } from './huge.js';
import type { Mm } from './mm.js';
import type { Page } from './page.js';
import { PTE_DEVICE_EXCLUSIVE, pteKindOf, ptePfn } from './pte.js';
import { reclaimVa } from './reclaim.js';

const MB = 1 << 20;
const HUGE = 2 * MB;
const RW = PROT_READ | PROT_WRITE;

interface Seen {
  event: number;
  start: number;
  end: number;
}

interface World {
  k: Kernel;
  mm: Mm;
  /** A PMD-aligned 2 MiB inside a 6 MiB mapping, with room after it, advised MADV_HUGEPAGE unless told otherwise. */
  huge: number;
  seen: Seen[];
  sub: MmuIntervalNotifier;
}

async function world(options: KernelOptions = {}, advise = true): Promise<World> {
  const k = new Kernel({ trace: 'all', ...options });
  const mm = k.createMm();
  const base = await mm.mmap(0, 3 * HUGE, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  const huge = Math.ceil(base / HUGE) * HUGE;
  if (advise) expect(await mm.madvise(huge, HUGE, MADV_HUGEPAGE)).toBe(0);
  const seen: Seen[] = [];
  const sub = new MmuIntervalNotifier('watcher');
  await mmuIntervalNotifierInsert(sub, mm, 0, ULONG_MAX, {
    invalidate(mni, r, cur) {
      mmuIntervalSetSeq(mni, cur);
      seen.push({ event: r.event, start: r.start, end: r.end });
      return true;
    },
  });
  return { k, mm, huge, seen, sub };
}

/** hmm_range_fault of `n` pages from `start`, asking for write access unless `write` is false; the output entries. */
async function hmmFault(w: World, start: number, n: number, write = true): Promise<number[]> {
  for (;;) {
    const range: HmmRange = {
      notifier: w.sub,
      notifierSeq: await mmuIntervalReadBegin(w.sub),
      start,
      end: start + n * w.k.pageSize,
      hmmPfns: new Array(n).fill(0),
      defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
      pfnFlagsMask: 0,
      devPrivateOwner: null,
    };
    await w.mm.mmapLock.downRead();
    const ret = await hmmRangeFault(range);
    w.mm.mmapLock.upRead();
    if (ret === -EBUSY) continue;
    expect(ret).toBe(0);
    return Array.from({ length: n }, (_, i) => range.hmmPfns[i] as number);
  }
}

function splitEvents(w: World): Seen[] {
  return w.seen.filter((s) => s.event === MMU_NOTIFY_CLEAR && s.start === w.huge && s.end === w.huge + HUGE);
}

describe('anonymous THP (do_huge_pmd_anonymous_page)', () => {
  it('should map a PMD-sized folio at the first write fault of an advised, aligned range', async () => {
    const w = await world();
    await w.mm.write(w.huge + 5 * w.k.pageSize, 42);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('thp');
    const head = w.k.pages.page(ptePfn(w.mm.pte(w.huge)));
    expect(head.order).toBe(9);
    for (let i = 0; i < HPAGE_PMD_NR; i++) expect(ptePfn(w.mm.pte(w.huge + i * w.k.pageSize))).toBe(head.pfn + i);
    expect(await w.mm.read(w.huge + 5 * w.k.pageSize)).toBe(42);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it.each([
    ['madvise', false, false],
    ['madvise', true, true],
    ['never', true, false],
    ['always', false, true],
  ] as const)('should follow thp=%s (advised: %s → PMD: %s)', async (thp, advise, pmd) => {
    const w = await world({ thp }, advise);
    await w.mm.write(w.huge, 1);
    expect(w.mm.hugePmds.has(w.huge / HUGE)).toBe(pmd);
  });

  it('should report map order 9 for the huge page and 0 next to it (hmm_vma_handle_pmd)', async () => {
    const w = await world();
    await w.mm.write(w.huge, 1);
    const ps = w.k.pageSize;
    const pfns = await hmmFault(w, w.huge + HUGE - 2 * ps, 4);
    expect(pfns.map(hmmPfnToMapOrder)).toEqual([9, 9, 0, 0]);
  });

  it('should map the huge zero page on a read fault and split it on the first write', async () => {
    const w = await world();
    expect(await w.mm.read(w.huge + 64)).toBe(0);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('zero');
    await w.mm.write(w.huge, 3);
    expect(w.mm.hugePmds.has(w.huge / HUGE)).toBe(false);
    expect(splitEvents(w)).toHaveLength(1);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });
});

describe('the huge zero page (get_huge_zero_page, __split_huge_zero_page_pmd)', () => {
  it('should report 512 consecutive pfns of zero pages with map order 9, each a struct page a driver can take', async () => {
    const w = await world();
    const ps = w.k.pageSize;
    // A device's read fault: no write access asked.
    const pfns = await hmmFault(w, w.huge + 7 * ps, 1, false);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('zero');
    const entry = pfns[0] as number;
    expect(hmmPfnToMapOrder(entry)).toBe(9);
    // As nouveau_range_fault does: the head of the PMD's pages from the faulting page's offset.
    const head = hmmPfnToPfn(entry) - 7;
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      const page = w.k.pages.page(head + i);
      expect(page.isZero).toBe(true);
      expect(ptePfn(w.mm.pte(w.huge + i * ps))).toBe(head + i);
    }
    // is_zero_pfn holds for the zero page only.
    expect(head).not.toBe(w.k.pages.zeroPage.pfn);
    expect(await w.mm.read(w.huge + 300 * ps)).toBe(0);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('should map the zero page in its place when the PMD splits, inside the split invalidation', async () => {
    const w = await world();
    const ps = w.k.pageSize;
    await hmmFault(w, w.huge, 1, false);
    const hugeZero = ptePfn(w.mm.pte(w.huge + 5 * ps));
    // A partial MADV_DONTNEED splits the PMD first, then zaps its part.
    expect(await w.mm.madvise(w.huge, ps, MADV_DONTNEED)).toBe(0);
    expect(w.mm.hugePmds.has(w.huge / HUGE)).toBe(false);
    expect(w.mm.pte(w.huge)).toBe(0);
    for (let i = 1; i < HPAGE_PMD_NR; i++) expect(ptePfn(w.mm.pte(w.huge + i * ps))).toBe(w.k.pages.zeroPage.pfn);
    const changes = w.k.trace.events().filter((e) => e.type === 'pte' && e.why === 'split-huge-zero-pmd');
    expect(changes).toHaveLength(HPAGE_PMD_NR);
    expect(changes.every((e) => e.type === 'pte' && e.inv >= 0)).toBe(true);
    expect(hugeZero).not.toBe(w.k.pages.zeroPage.pfn);
    expect(await w.mm.read(w.huge + 5 * ps)).toBe(0);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });
});

describe('fork (copy_huge_pmd) and COW (do_huge_pmd_wp_page)', () => {
  it('should share the PMD with the child, then split it at the first write of a shared folio', async () => {
    const w = await world();
    await w.mm.write(w.huge + 8, 5);
    const child = await w.mm.fork();
    expect(child.hugePmds.get(w.huge / HUGE)).toBe('thp');
    w.seen.length = 0;
    await w.mm.write(w.huge + 8, 6);
    expect(splitEvents(w)).toHaveLength(1);
    expect(w.mm.hugePmds.size).toBe(0);
    expect(child.hugePmds.get(w.huge / HUGE)).toBe('thp');
    expect(await child.read(w.huge + 8)).toBe(5);
    expect(await w.mm.read(w.huge + 8)).toBe(6);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('should reuse the folio whole once the child has exited (no split, no copy)', async () => {
    const w = await world();
    await w.mm.write(w.huge, 1);
    const child = await w.mm.fork();
    await child.exit();
    const pfn = ptePfn(w.mm.pte(w.huge));
    w.seen.length = 0;
    await w.mm.write(w.huge + HUGE - 4, 2);
    expect(splitEvents(w)).toHaveLength(0);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('thp');
    expect(ptePfn(w.mm.pte(w.huge))).toBe(pfn);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });
});

describe('splits (__split_huge_pmd) with a CLEAR of the whole huge page', () => {
  it('should split on a partial munmap, before unmapping the part', async () => {
    const w = await world();
    await w.mm.writeRange(
      w.huge,
      new Int32Array(HUGE / 4).map((_, i) => i),
    );
    w.seen.length = 0;
    expect(await w.mm.munmap(w.huge + MB, MB)).toBe(0);
    expect(w.seen.map((s) => [s.event, s.start - w.huge, s.end - w.huge])).toEqual([
      [MMU_NOTIFY_CLEAR, 0, HUGE],
      [MMU_NOTIFY_UNMAP, MB, HUGE],
    ]);
    expect(w.mm.hugePmds.size).toBe(0);
    expect(await w.mm.read(w.huge + MB - 4)).toBe(MB / 4 - 1);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('should unmap a whole huge page without splitting it (zap_huge_pmd)', async () => {
    const w = await world();
    await w.mm.write(w.huge, 1);
    w.seen.length = 0;
    expect(await w.mm.munmap(w.huge, HUGE)).toBe(0);
    expect(w.seen.map((s) => s.event)).toEqual([MMU_NOTIFY_UNMAP]);
    expect(w.mm.hugePmds.size).toBe(0);
    expect(w.k.pages.allocated).toBe(0);
  });

  it('should split on a partial mprotect and keep a wholly covered PMD (change_huge_pmd)', async () => {
    const w = await world();
    await w.mm.write(w.huge, 1);
    w.seen.length = 0;
    expect(await w.mm.mprotect(w.huge, HUGE, PROT_READ)).toBe(0);
    expect(splitEvents(w)).toHaveLength(0);
    expect(w.mm.hugePmds.has(w.huge / HUGE)).toBe(true);
    expect(await w.mm.mprotect(w.huge, MB, RW)).toBe(0);
    expect(w.seen.filter((s) => s.event !== MMU_NOTIFY_PROTECTION_VMA).map((s) => [s.start - w.huge, s.end - w.huge])).toEqual([[0, HUGE]]);
    expect(w.mm.hugePmds.size).toBe(0);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('should split on a partial MADV_DONTNEED inside its invalidation', async () => {
    const w = await world();
    await w.mm.write(w.huge, 1);
    w.seen.length = 0;
    expect(await w.mm.madvise(w.huge, MB, MADV_DONTNEED)).toBe(0);
    expect(w.seen.map((s) => [s.event, s.start - w.huge, s.end - w.huge])).toEqual([
      [MMU_NOTIFY_CLEAR, 0, MB],
      [MMU_NOTIFY_CLEAR, 0, HUGE],
    ]);
    expect(await w.mm.read(w.huge)).toBe(0);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('should move a PMD whole when mremap keeps it aligned, and split it otherwise', async () => {
    for (const off of [0, MB]) {
      const w = await world();
      await w.mm.write(w.huge + 8, 9);
      const to = w.huge + 4 * HUGE + off;
      expect(await w.mm.mremap(w.huge, HUGE, HUGE, MREMAP_MAYMOVE | MREMAP_FIXED, to)).toBe(to);
      expect(w.mm.hugePmds.has(to / HUGE)).toBe(off === 0);
      expect(splitEvents(w)).toHaveLength(off === 0 ? 0 : 1);
      expect(await w.mm.read(to + 8)).toBe(9);
      expect(checkMmInvariants(w.k)).toEqual([]);
    }
  });

  it.each(['6.1', 'latest'] as const)('should split the THP when migrating it to device memory (%s)', async (profile) => {
    const w = await world({ profile });
    await w.mm.writeRange(
      w.huge,
      new Int32Array(HUGE / 4).map((_, i) => i),
    );
    const dev = createDevice(w.k, { pages: HPAGE_PMD_NR });
    w.seen.length = 0;
    const r = await migrate(dev, w.mm, w.huge, w.huge + HUGE, 'device');
    expect(r.cpages).toBe(HPAGE_PMD_NR);
    expect(r.migrated).toBe(HPAGE_PMD_NR);
    expect(splitEvents(w).length).toBeGreaterThanOrEqual(1);
    expect(w.mm.hugePmds.size).toBe(0);
    expect(await w.mm.read(w.huge + HUGE - 4)).toBe(HUGE / 4 - 1);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it.each([
    ['6.1', 0],
    ['latest', HPAGE_PMD_NR / 2],
  ] as const)('a PTE-mapped large folio on %s: collect migrates %i of its pages', async (profile, want) => {
    const w = await world({ profile: profile as ProfileName });
    await w.mm.write(w.huge, 1);
    expect(await w.mm.mprotect(w.huge + MB, MB, PROT_READ)).toBe(0);
    expect(w.mm.hugePmds.size).toBe(0);
    expect(w.k.pages.page(ptePfn(w.mm.pte(w.huge))).large).toBe(true);
    const dev = createDevice(w.k, { pages: HPAGE_PMD_NR });
    const r = await migrate(dev, w.mm, w.huge, w.huge + MB, 'device');
    expect(r.migrated).toBe(want);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });
});

describe('device-exclusive on a THP', () => {
  it('6.1: make_device_exclusive_range refuses the tail pages (PageTail) and converts the folio through its head', async () => {
    const w = await world({ profile: '6.1' });
    await w.mm.write(w.huge, 1);
    const n = 64;
    const pages: (Page | null)[] = new Array(n).fill(null);
    await w.mm.mmapLock.downRead();
    expect(await makeDeviceExclusiveRange(w.mm, w.huge, w.huge + n * w.k.pageSize, pages, null)).toBe(n);
    w.mm.mmapLock.upRead();
    expect(pages.filter((p) => p !== null)).toHaveLength(1);
    expect(pages[0]).not.toBeNull();
    expect(splitEvents(w)).toHaveLength(1);
    expect(w.seen.filter((s) => s.event === MMU_NOTIFY_EXCLUSIVE).map((s) => [s.start - w.huge, s.end - w.huge])).toEqual([[0, HUGE]]);
    expect(pteKindOf(w.mm.pte(w.huge + HUGE - w.k.pageSize))).toBe(PTE_DEVICE_EXCLUSIVE);
    const head = pages[0] as Page;
    w.k.pages.unlockPage(head);
    w.k.pages.putPage(head);
    expect(await w.mm.read(w.huge)).toBe(1);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('latest: make_device_exclusive converts any page of a PTE-mapped THP', async () => {
    const w = await world({ profile: 'latest' });
    await w.mm.write(w.huge + w.k.pageSize, 1);
    await w.mm.mmapLock.downRead();
    const page = asPage(await makeDeviceExclusive(w.mm, w.huge + w.k.pageSize, null));
    w.mm.mmapLock.upRead();
    expect(page.head).not.toBeNull();
    expect(pteKindOf(w.mm.pte(w.huge + w.k.pageSize))).toBe(PTE_DEVICE_EXCLUSIVE);
    w.k.pages.unlockPage(page);
    w.k.pages.putPage(page);
    expect(await w.mm.read(w.huge + w.k.pageSize)).toBe(1);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });
});

describe('hugetlbfs (MAP_HUGETLB)', () => {
  const FLAGS = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;

  it('should fail with -ENOMEM when the pool cannot reserve the mapping (hugetlb_reserve_pages)', async () => {
    const w = await world({ hugePages: 1 });
    const a = await w.mm.mmap(0, HUGE, RW, FLAGS);
    expect(a % HUGE).toBe(0);
    expect(await w.mm.mmap(0, HUGE, RW, FLAGS)).toBe(-ENOMEM);
    expect(await w.mm.munmap(a, HUGE)).toBe(0);
    expect(w.k.hugetlb).toEqual({ total: 1, free: 1, reserved: 0 });
  });

  it('should map the huge page at the first fault, report order 9, and give it back at munmap', async () => {
    const w = await world({ hugePages: 2 });
    const a = await w.mm.mmap(0, HUGE, RW, FLAGS);
    await w.mm.write(a + 4, 5);
    expect(w.mm.hugePmds.get(a / HUGE)).toBe('hugetlb');
    expect(w.k.hugetlb).toEqual({ total: 2, free: 1, reserved: 0 });
    const pfns = await hmmFault(w, a, 2);
    expect(pfns.map(hmmPfnToMapOrder)).toEqual([9, 9]);
    expect(await w.mm.munmap(a, MB)).toBe(-EINVAL);
    expect(await w.mm.mprotect(a + MB, MB, PROT_READ)).toBe(-EINVAL);
    expect(checkMmInvariants(w.k)).toEqual([]);
    expect(await w.mm.munmap(a, HUGE)).toBe(0);
    expect(w.k.hugetlb.free).toBe(2);
  });

  it('should fault a whole huge page for a CPU task running alone (no base-page fast path)', async () => {
    const w = await world({ hugePages: 1 });
    let a = 0;
    w.k.spawn('cpu', 'cpu', async () => {
      a = await w.mm.mmap(0, HUGE, RW, FLAGS);
      await w.mm.write(a + HUGE - 4, 6);
    });
    await runDone(w.k);
    expect(w.mm.hugePmds.get(a / HUGE)).toBe('hugetlb');
    expect(await w.mm.read(a + HUGE - 4)).toBe(6);
    expect(checkMmInvariants(w.k)).toEqual([]);
  });

  it('should map a THP for a CPU task running alone', async () => {
    const w = await world();
    w.k.spawn('cpu', 'cpu', () => w.mm.write(w.huge, 6));
    await runDone(w.k);
    expect(w.mm.hugePmds.get(w.huge / HUGE)).toBe('thp');
  });
});

describe('can_split_folio: a folio with a reference beyond its mappings is not split', () => {
  it('should keep a THP whole when reclaim meets a GUP reference on one of its pages, and split it without one', async () => {
    for (const held of [true, false]) {
      const w = await world();
      await w.mm.write(w.huge + 5 * w.k.pageSize, 42);
      const head = w.k.pages.page(ptePfn(w.mm.pte(w.huge)));
      const sub = w.k.pages.page(head.pfn + 3);
      if (held) w.k.pages.getPage(sub); // get_user_pages (FOLL_GET) of the fourth page
      const ret = await reclaimVa(w.mm, w.huge + 3 * w.k.pageSize);
      if (held) {
        // split_huge_page splits the PMD first (unmap_folio, TTU_SPLIT_HUGE_PMD), then fails to
        // freeze the folio's references and maps its pages back: the folio stays whole, PTE-mapped.
        expect(ret).toBe(-EBUSY);
        expect(sub.large).toBe(true);
        expect(w.mm.hugePmds.has(w.huge / HUGE)).toBe(false);
        expect(ptePfn(w.mm.pte(w.huge + 3 * w.k.pageSize))).toBe(sub.pfn);
        expect(await w.mm.read(w.huge + 5 * w.k.pageSize)).toBe(42);
        w.k.pages.putPage(sub);
      } else {
        expect(ret).toBe(0);
        expect(sub.large).toBe(false);
        expect(w.mm.hugePmds.has(w.huge / HUGE)).toBe(false);
      }
      expect(checkMmInvariants(w.k)).toEqual([]);
    }
  });
});
