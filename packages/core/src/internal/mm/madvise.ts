/**
 * madvise (mm/madvise.c): `MADV_DONTNEED` zaps each VMA's part of the range under a
 * `MMU_NOTIFY_CLEAR` invalidation (`zap_page_range_single`); `MADV_FREE` marks private anonymous
 * pages clean and lazily freeable under one (`madvise_free_single_vma`).
 */
import { EINVAL, ENOMEM } from '../errors.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_CLEAR } from '../notifier/range.js';
import {
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  TASK_SIZE,
  VM_HUGEPAGE,
  VM_NOHUGEPAGE,
} from './constants.js';
import { pmdSize, splitHugePmdsAtEdges, splitVmaAt } from './huge.js';
import type { Mm } from './mm.js';
import { hugetlbAligned } from './munmap.js';
import type { Page } from './page.js';
import { PTE_DIRTY, PTE_PRESENT, PTE_SWAP, PTE_YOUNG, pteClear, pteKindOf, ptePfn } from './pte.js';
import { putPages, zapPtes } from './zap.js';

/** `madvise(2)`. */
export async function madvise(mm: Mm, addr: number, length: number, advice: number): Promise<number> {
  const k = mm.kernel;
  if (!Number.isInteger(addr) || addr < 0 || addr % k.pageSize !== 0) return -EINVAL;
  if (!Number.isInteger(length) || length < 0) return -EINVAL;
  const known = [MADV_NORMAL, MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MADV_NOHUGEPAGE];
  if (!known.includes(advice)) return -EINVAL;
  const len = k.pageAlign(length);
  if (len === 0) return 0;
  const end = addr + len;
  if (end > TASK_SIZE) return -EINVAL;
  if (advice === MADV_HUGEPAGE || advice === MADV_NOHUGEPAGE) return hugepageMadvise(mm, addr, end, len, advice);
  await mm.mmapLock.downRead();
  try {
    const vmas = mm.vmasIn(addr, end);
    let mapped = 0;
    for (const v of vmas) mapped += Math.min(end, v.end) - Math.max(addr, v.start);
    if (advice === MADV_NORMAL) {
      // A hint only: the model has no readahead to tune.
      if (k.trace.on)
        k.trace.emit({
          type: 'vma',
          mm: mm.id,
          op: 'madvise',
          start: addr,
          end,
          detail: `advice ${advice} (hint only)`,
        });
      return mapped < len ? -ENOMEM : 0;
    }
    for (const v of vmas) {
      const s = Math.max(addr, v.start);
      let e = Math.min(end, v.end);
      if (advice === MADV_FREE && (!v.anonymous || v.hugetlb)) return -EINVAL;
      if (v.hugetlb) {
        // madvise_dontneed_free_valid_vma: a hugetlb range starts on a huge page boundary; its
        // end is rounded down to one.
        const size = pmdSize(mm);
        if (s % size !== 0) return -EINVAL;
        e -= e % size;
        if (e <= s) continue;
      }
      if (k.trace.on)
        k.trace.emit({
          type: 'vma',
          mm: mm.id,
          op: advice === MADV_FREE ? 'madvise-free' : 'madvise-dontneed',
          start: s,
          end: e,
          detail: '',
        });
      const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, s, e);
      await mmuNotifierInvalidateRangeStart(range);
      await k.sched.yield();
      // zap_pmd_range / madvise_free_pmd_range split a PMD the range covers in part.
      await splitHugePmdsAtEdges(mm, s, e);
      const toPut: Page[] = [];
      if (advice === MADV_DONTNEED) zapPtes(mm, s, e, range.id, toPut, 'madvise-dontneed');
      else lazyFree(mm, s, e, range.id);
      await mmuNotifierInvalidateRangeEnd(range);
      putPages(mm, toPut);
    }
    return mapped < len ? -ENOMEM : 0;
  } finally {
    mm.mmapLock.upRead();
  }
}

/** `madvise_free_pte_range`: swap entries are dropped; exclusive pages become clean and old. */
function lazyFree(mm: Mm, start: number, end: number, inv: number): void {
  const k = mm.kernel;
  for (const vpn of mm.vpnsInRange(start, end)) {
    const e = mm.pt.get(vpn) ?? 0;
    const kind = pteKindOf(e);
    if (kind === PTE_SWAP) {
      mm.setPte(vpn, 0, inv, 'madvise-free');
      k.swap.free(ptePfn(e), k.pages);
      continue;
    }
    if (kind !== PTE_PRESENT) continue;
    const page = k.pages.page(ptePfn(e));
    if (page.isZero || !page.anon || page.mapcount !== 1) continue;
    page.dirty = false;
    page.lazyfree = true;
    mm.setPte(vpn, pteClear(e, PTE_DIRTY | PTE_YOUNG), inv, 'madvise-free');
  }
}

/**
 * `hugepage_madvise` under the mmap write lock (`madvise_need_mmap_write`): `MADV_HUGEPAGE` sets
 * `VM_HUGEPAGE` and clears `VM_NOHUGEPAGE` on the range, `MADV_NOHUGEPAGE` the reverse; the
 * VMAs are split at the range's edges (`madvise_update_vma`). PMDs already mapped stay.
 */
async function hugepageMadvise(mm: Mm, addr: number, end: number, len: number, advice: number): Promise<number> {
  const k = mm.kernel;
  await mm.mmapLock.downWrite();
  try {
    const vmas = mm.vmasIn(addr, end);
    let mapped = 0;
    for (const v of vmas) mapped += Math.min(end, v.end) - Math.max(addr, v.start);
    if (!hugetlbAligned(mm, addr, end)) return -EINVAL;
    await splitVmaAt(mm, addr);
    await splitVmaAt(mm, end);
    const set = advice === MADV_HUGEPAGE ? VM_HUGEPAGE : VM_NOHUGEPAGE;
    for (const v of mm.vmasIn(addr, end)) v.flags = (v.flags & ~(VM_HUGEPAGE | VM_NOHUGEPAGE)) | set;
    if (k.trace.on) {
      const name = advice === MADV_HUGEPAGE ? 'MADV_HUGEPAGE' : 'MADV_NOHUGEPAGE';
      k.trace.emit({ type: 'vma', mm: mm.id, op: 'madvise', start: addr, end, detail: name });
    }
    return mapped < len ? -ENOMEM : 0;
  } finally {
    mm.mmapLock.upWrite();
  }
}
