/**
 * Huge pages: PMD-mapped transparent huge pages (mm/huge_memory.c) and the PMD-level side of
 * hugetlbfs (mm/hugetlb.c). A PMD mapping is recorded per address space in `mm.hugePmds`, keyed
 * by the PMD's index (`va / pmdSize`); the 512 page-table entries under it stay in `mm.pt`, each
 * naming its page of the folio, so every walker that reads entries keeps working. What a PMD
 * mapping changes is what the kernel does at the PMD level: the first fault maps the whole folio
 * (`do_huge_pmd_anonymous_page`), `hmm_range_fault` reports map order 9 (`hmm_vma_handle_pmd`),
 * and an operation on part of it splits it first (`__split_huge_pmd`), under a `MMU_NOTIFY_CLEAR`
 * invalidation of the whole huge page.
 */
import { offsetIn } from '../align.js';
import type { Kernel } from '../kernel.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_CLEAR } from '../notifier/range.js';
import { VM_HUGEPAGE, VM_HUGETLB, VM_NOHUGEPAGE } from './constants.js';
import type { Mm } from './mm.js';
import type { Page } from './page.js';
import {
  mkPte,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_SOFT_DIRTY,
  PTE_WRITE,
  PTE_YOUNG,
  pteFlags,
  pteKindOf,
  ptePfn,
} from './pte.js';
import type { Vma } from './vma.js';

/** `HPAGE_PMD_ORDER`: a PMD maps 2^9 pages (x86-64). */
export const HPAGE_PMD_ORDER = 9;
/** `HPAGE_PMD_NR`. */
export const HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;

/**
 * What a PMD maps: a THP folio, the huge zero page, a hugetlb folio, and on profile `latest` a
 * device-private PMD-sized folio (a non-present PMD entry, `make_writable_device_private_entry` in
 * mm/migrate_device.c `migrate_vma_insert_huge_pmd_page`) or a PMD migration entry
 * (mm/huge_memory.c `set_pmd_migration_entry`, while `migrate_vma_*` moves a whole folio). The 512
 * entries under a device-private or migration PMD are device-private or migration entries.
 */
export type HugePmdKind = 'thp' | 'zero' | 'hugetlb' | 'device-private' | 'migration';

/** `/sys/kernel/mm/transparent_hugepage/enabled`. */
export type ThpMode = 'always' | 'madvise' | 'never';

/** `HPAGE_PMD_SIZE` of a kernel with this page size. */
export function pmdSize(mm: Mm): number {
  return mm.kernel.pageSize * HPAGE_PMD_NR;
}

/** The PMD-mapped block containing `va`, or undefined. */
export function hugePmdAt(mm: Mm, va: number): HugePmdKind | undefined {
  if (mm.hugePmds.size === 0) return undefined;
  return mm.hugePmds.get(Math.floor(va / pmdSize(mm)));
}

/**
 * `thp_vma_allowable_order` for an anonymous fault at `va` (mm/huge_memory.c
 * `hugepage_vma_check` in 6.1): THP enabled for the VMA (`always`, or `madvise` with
 * `VM_HUGEPAGE`; never with `VM_NOHUGEPAGE`), the aligned huge page inside the VMA
 * (`transhuge_vma_suitable`), and the PMD still empty (`pmd_none`: no entry under it).
 */
export function thpFaultAllowed(mm: Mm, vma: Vma, va: number): boolean {
  // The sysfs mode first and the rest apart: the fault fast path inlines this, and with the
  // default `madvise` most VMAs stop here.
  const mode = mm.kernel.thp;
  if (mode === 'never' || (mode === 'madvise' && (vma.flags & VM_HUGEPAGE) === 0)) return false;
  return thpFaultFits(mm, vma, va);
}

/** {@link thpFaultAllowed} past the sysfs mode: the VMA's kind and flags, and room for an aligned PMD with no entry yet. */
function thpFaultFits(mm: Mm, vma: Vma, va: number): boolean {
  if (!vma.anonymous || (vma.flags & (VM_NOHUGEPAGE | VM_HUGETLB)) !== 0) return false;
  const size = pmdSize(mm);
  const haddr = va - offsetIn(va, size);
  if (haddr < vma.start || haddr + size > vma.end) return false;
  return !mm.anyPteInRange(haddr, haddr + size);
}

/**
 * `do_huge_pmd_anonymous_page`: a read maps the huge zero page (`use_zero_page`, on by
 * default), a write a fresh zeroed PMD-sized folio, all 512 entries at once.
 */
export function doHugePmdAnonymousPage(mm: Mm, va: number, write: boolean): void {
  const k = mm.kernel;
  const size = pmdSize(mm);
  const haddr = va - offsetIn(va, size);
  const first = haddr / k.pageSize;
  // do_huge_pmd_anonymous_page starts with anon_vma_prepare, for the huge zero page too.
  const vma = mm.lookupVma(haddr);
  if (vma !== undefined) vma.anonVma = true;
  if (!write) {
    // set_huge_zero_page: one PMD maps the huge zero folio, page i at its pfn + i.
    const zero = k.pages.hugeZeroPage(HPAGE_PMD_ORDER).pfn;
    for (let i = 0; i < HPAGE_PMD_NR; i++) mm.setPte(first + i, mkPte(PTE_PRESENT, zero + i, PTE_YOUNG), -1, 'huge-zero-page');
    mm.hugePmds.set(haddr / size, 'zero');
    return;
  }
  const head = k.pages.allocFolio(HPAGE_PMD_ORDER);
  mapFolio(mm, head, haddr, PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY, 'huge-anon-fault');
  mm.hugePmds.set(haddr / size, 'thp');
}

/** Maps the 512 pages of `head`'s folio at `haddr` (`set_pmd_at` of `mk_huge_pmd`). */
export function mapFolio(mm: Mm, head: Page, haddr: number, flags: number, why: string): void {
  const k = mm.kernel;
  const first = haddr / k.pageSize;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const p = k.pages.page(head.pfn + i);
    p.anon = true;
    p.anonExclusive = true;
    mm.rmapAdd(p, haddr + i * k.pageSize);
    mm.setPte(first + i, mkPte(PTE_PRESENT, p.pfn, flags), -1, why);
  }
}

/**
 * `__split_huge_pmd`: a `MMU_NOTIFY_CLEAR` invalidation of the whole huge page
 * (`mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, vma, mm, address & HPAGE_PMD_MASK,
 * (address & HPAGE_PMD_MASK) + HPAGE_PMD_SIZE)`), inside which the PMD becomes a page table of
 * the same 512 entries (`__split_huge_pmd_locked`). The folio stays large. No-op when `va` is not
 * PMD-mapped (or is hugetlb, which never splits). Returns true if it split.
 */
export async function splitHugePmd(mm: Mm, va: number): Promise<boolean> {
  const kind = hugePmdAt(mm, va);
  if (kind === undefined || kind === 'hugetlb') return false;
  const size = pmdSize(mm);
  const haddr = va - offsetIn(va, size);
  const k = mm.kernel;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + size);
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  // The kernel rechecks under the PMD lock and splits whatever huge entry is there now: somebody
  // may have split it while the notifiers ran, or a migration may have replaced the THP by a PMD
  // migration entry or a device-private PMD (`__split_huge_pmd` splits those too), which a zap of
  // part of the range must not leave whole.
  const now = mm.hugePmds.get(haddr / size);
  if (now !== undefined && now !== 'hugetlb') {
    mm.hugePmds.delete(haddr / size);
    // __split_huge_zero_page_pmd: the huge zero page's entries become entries of the zero page
    // (`my_zero_pfn`), inside the invalidation.
    if (now === 'zero') {
      const first = haddr / k.pageSize;
      for (let i = 0; i < HPAGE_PMD_NR; i++) {
        const e = mm.pt.get(first + i) ?? 0;
        if (pteKindOf(e) === PTE_PRESENT)
          mm.setPte(first + i, mkPte(PTE_PRESENT, k.pages.zeroPage.pfn, pteFlags(e)), range.id, 'split-huge-zero-pmd');
      }
    }
    if (k.trace.on) k.trace.emit({ type: 'vma', mm: mm.id, op: 'split-huge-pmd', start: haddr, end: haddr + size, detail: now });
  }
  await mmuNotifierInvalidateRangeEnd(range);
  return true;
}

/**
 * `vma_adjust_trans_huge` / `split_huge_pmd_if_needed`: splits the PMD mappings that straddle
 * `start` or `end` (an operation on `[start, end)` covers them only in part).
 */
export async function splitHugePmdsAtEdges(mm: Mm, start: number, end: number): Promise<void> {
  if (mm.hugePmds.size === 0) return;
  const size = pmdSize(mm);
  if (offsetIn(start, size) !== 0) await splitHugePmd(mm, start);
  if (offsetIn(end, size) !== 0) await splitHugePmd(mm, end);
}

/**
 * `__split_vma` at `addr` (a no-op unless `addr` lies strictly inside a VMA), preceded by what
 * `vma_adjust_trans_huge` → `split_huge_pmd_if_needed` (mm/huge_memory.c) does there: when `addr`
 * is not PMD-aligned and the PMD-sized block around it lies inside the VMA, and a page table
 * reaches that block (`mm_find_pmd`, mm/rmap.c, returns the PMD slot whenever the PUD entry is
 * present, huge or not), `__split_huge_pmd` runs. It starts its `MMU_NOTIFY_CLEAR` of the whole
 * block before it looks at the PMD, so the notifiers see that invalidation even when nothing is
 * PMD-mapped there. The model takes the PUD entry as present while the mm has any entry in the
 * PUD-sized block.
 */
export async function splitVmaAt(mm: Mm, addr: number): Promise<void> {
  const vma = mm.lookupVma(addr);
  if (vma === undefined || vma.start === addr) return;
  const size = pmdSize(mm);
  const haddr = addr - offsetIn(addr, size);
  if (addr !== haddr && haddr >= vma.start && haddr + size <= vma.end && !(await splitHugePmd(mm, addr)) && pudPresent(mm, addr)) {
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + size);
    await mmuNotifierInvalidateRangeStart(range);
    await mm.kernel.sched.yield();
    await mmuNotifierInvalidateRangeEnd(range);
  }
  mm.splitAt(addr);
}

/** Whether `mm` has a page-table entry in the PUD-sized block (512 PMDs) around `va`. */
function pudPresent(mm: Mm, va: number): boolean {
  const span = HPAGE_PMD_NR * HPAGE_PMD_NR;
  const block = Math.floor(va / mm.kernel.pageSize / span);
  return mm.pt.anyIn(block * span, (block + 1) * span);
}

/**
 * `zap_huge_pmd`: forgets the PMD mappings wholly inside `[start, end)` (the caller clears their
 * entries). The caller split the partly covered ones first.
 */
export function dropHugePmds(mm: Mm, start: number, end: number): void {
  if (mm.hugePmds.size === 0) return;
  const size = pmdSize(mm);
  for (const idx of [...mm.hugePmds.keys()]) {
    const s = idx * size;
    if (s >= start && s + size <= end) mm.hugePmds.delete(idx);
  }
}

/** PMD indexes of the PMD mappings that intersect `[start, end)`, ascending. */
export function hugePmdsIn(mm: Mm, start: number, end: number): number[] {
  if (mm.hugePmds.size === 0) return [];
  const size = pmdSize(mm);
  const out: number[] = [];
  for (const idx of mm.hugePmds.keys()) if (idx * size < end && (idx + 1) * size > start) out.push(idx);
  return out.sort((a, b) => a - b);
}

/**
 * `split_huge_page` / `split_folio` of the large folio mapped at `va` in `mm` (what
 * `migrate_vma_collect_pmd` does with a THP, and reclaim with a large folio): its PMD mapping is
 * split (`unmap_folio` → `try_to_migrate` with `TTU_SPLIT_HUGE_PMD` → `__split_huge_pmd`), its
 * entries are frozen and restored under `try_to_migrate_one`'s `MMU_NOTIFY_CLEAR` of the folio's
 * range (clipped to the VMA), and the folio becomes base pages. The huge zero page is only split
 * (`split_huge_pmd`); hugetlb folios are never split. Returns false if the folio lock could not
 * be taken, or the folio holds a reference beyond its mappings and the caller's (a GUP reference
 * or pin: `can_split_folio`); the caller then skips the range, as `migrate_vma_collect_skip`.
 */
export async function splitHugePage(mm: Mm, va: number): Promise<boolean> {
  const k = mm.kernel;
  const kind = hugePmdAt(mm, va);
  if (kind === 'hugetlb') return true;
  if (kind === 'zero') {
    await splitHugePmd(mm, va);
    return true;
  }
  const e = mm.pt.get(Math.floor(va / k.pageSize)) ?? 0;
  if (kind === 'device-private') return splitDevicePrivatePmd(mm, va, k.pages.page(ptePfn(e)));
  if (pteKindOf(e) !== PTE_PRESENT) return true;
  const page = k.pages.page(ptePfn(e));
  if (!page.large || page.folio.hugetlb) return true;
  const head = page.folio;
  k.pages.getPage(head);
  if (!k.pages.trylockPage(head)) {
    k.pages.putPage(head);
    return false;
  }
  if (kind === 'thp') await splitHugePmd(mm, va);
  const vma = mm.lookupVma(va);
  const start = va - (page.pfn - head.pfn) * k.pageSize;
  const end = Math.min(start + 2 ** head.order * k.pageSize, vma === undefined ? start + k.pageSize : vma.end);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, Math.max(start, vma?.start ?? start), end);
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  // folio_ref_freeze after unmap_folio: a reference taken before the entries were frozen (a GUP
  // that ran meanwhile) makes the split fail, and the entries are restored as they were.
  const ok = canSplitFolio(k, head, 1);
  if (ok) k.pages.splitFolio(head);
  await mmuNotifierInvalidateRangeEnd(range);
  k.pages.unlockPage(head);
  k.pages.putPage(head);
  return ok;
}

/**
 * `can_split_folio` (mm/huge_memory.c): a folio splits only if no one holds a reference beyond
 * its mappings, its swap-cache entries and the `callerRefs` the splitter took on the head (the
 * model counts references and mappings per page; a GUP pin counts in `refcount` too). A GUP
 * reference (`make_device_exclusive`'s, a DMA's) makes `split_huge_page` fail with `-EAGAIN`.
 */
export function canSplitFolio(k: Kernel, head: Page, callerRefs: number): boolean {
  const n = 2 ** head.order;
  for (let i = 0; i < n; i++) {
    const p = k.pages.page(head.pfn + i);
    const expected = p.mapcount + (p.swapSlot !== 0 ? 1 : 0) + (i === 0 ? callerRefs : 0);
    if (p.refcount > expected) return false;
  }
  return true;
}

/**
 * `split_folio` of a device-private PMD-sized folio (the fallback of mm/migrate_device.c
 * `migrate_vma_collect_huge_pmd` when the caller does not ask for `MIGRATE_VMA_SELECT_COMPOUND`):
 * the PMD becomes 512 device-private entries (`__split_huge_pmd_locked` of a device-private
 * entry) and the folio base pages. Returns false if the folio lock could not be taken.
 */
async function splitDevicePrivatePmd(mm: Mm, va: number, page: Page): Promise<boolean> {
  const k = mm.kernel;
  const head = page.folio;
  k.pages.getPage(head);
  if (!k.pages.trylockPage(head)) {
    k.pages.putPage(head);
    return false;
  }
  await splitHugePmd(mm, va);
  k.pages.splitFolio(head);
  k.pages.unlockPage(head);
  k.pages.putPage(head);
  return true;
}

/**
 * Checks that every PMD mapping of `mm` maps what it claims: 512 present entries naming
 * consecutive pages of one large folio (or the zero page). Returns the problems found.
 */
export function checkHugePmds(mm: Mm): string[] {
  const out: string[] = [];
  const k = mm.kernel;
  const size = pmdSize(mm);
  for (const [idx, kind] of mm.hugePmds) {
    const first = (idx * size) / k.pageSize;
    const e0 = mm.pt.get(first) ?? 0;
    const entryKind = kind === 'device-private' ? PTE_DEVICE_PRIVATE : kind === 'migration' ? PTE_MIGRATION : PTE_PRESENT;
    const head = pteKindOf(e0) === entryKind ? k.pages.peek(ptePfn(e0)) : undefined;
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      const e = mm.pt.get(first + i) ?? 0;
      const ok =
        pteKindOf(e) === entryKind &&
        head !== undefined &&
        ptePfn(e) === head.pfn + i &&
        head.order === HPAGE_PMD_ORDER &&
        head.isZero === (kind === 'zero') &&
        (i === 0 || k.pages.peek(ptePfn(e))?.head === head);
      if (!ok) {
        out.push(`${String(mm)}: the ${kind} PMD at 0x${(idx * size).toString(16)} has a stray entry at page ${i}`);
        break;
      }
    }
  }
  return out;
}
