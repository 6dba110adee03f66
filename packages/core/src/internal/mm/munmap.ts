/**
 * munmap (mm/vma.c `do_vmi_align_munmap` → `unmap_region` → `unmap_vmas`): the VMAs are
 * detached, then one `MMU_NOTIFY_UNMAP` invalidation covers the unmapped region while its
 * entries are cleared; the pages are freed after the invalidation ends.
 */
import { EINVAL } from '../errors.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_UNMAP } from '../notifier/range.js';
import { TASK_SIZE } from './constants.js';
import { pmdSize, splitVmaAt } from './huge.js';
import { hugetlbUnreserveRange } from './hugetlb.js';
import type { Mm } from './mm.js';
import type { Page } from './page.js';
import { putPages, zapPtes } from './zap.js';

/** `munmap(2)`. */
export async function munmap(mm: Mm, addr: number, length: number): Promise<number> {
  const k = mm.kernel;
  if (!Number.isInteger(addr) || addr < 0 || addr % k.pageSize !== 0) return -EINVAL;
  if (!Number.isInteger(length) || length <= 0) return -EINVAL;
  const len = k.pageAlign(length);
  if (addr + len > TASK_SIZE) return -EINVAL;
  await mm.mmapLock.downWrite();
  try {
    if (!hugetlbAligned(mm, addr, addr + len)) return -EINVAL;
    await doMunmap(mm, addr, addr + len, 'munmap');
  } finally {
    mm.mmapLock.upWrite();
  }
  return 0;
}

/** @internal Unmaps `[start, end)`; the caller holds the mmap lock for writing. */
export async function doMunmap(mm: Mm, start: number, end: number, why: string): Promise<void> {
  if (mm.vmasIn(start, end).length === 0) return;
  hugetlbUnreserveRange(mm, start, end);
  // __split_vma → vma_adjust_trans_huge at each new VMA boundary (a THP PMD across it is split).
  await splitVmaAt(mm, start);
  await splitVmaAt(mm, end);
  const victims = mm.vmasIn(start, end);
  const first = (victims[0] as (typeof victims)[number]).start;
  const last = (victims[victims.length - 1] as (typeof victims)[number]).end;
  for (const v of victims) mm.removeVma(v);
  const k = mm.kernel;
  if (k.trace.on) k.trace.emit({ type: 'vma', mm: mm.id, op: why, start: first, end: last, detail: `${victims.length} vma(s)` });
  await unmapRegion(mm, first, last, why);
}

/** @internal `unmap_region`: one UNMAP invalidation over `[start, end)`, then the pages are freed. */
async function unmapRegion(mm: Mm, start: number, end: number, why: string): Promise<void> {
  const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, start, end);
  await mmuNotifierInvalidateRangeStart(range);
  await mm.kernel.sched.yield();
  const toPut: Page[] = [];
  zapPtes(mm, start, end, range.id, toPut, why);
  await mmuNotifierInvalidateRangeEnd(range);
  await mm.kernel.sched.yield();
  putPages(mm, toPut);
}

/**
 * `hugetlb_vm_op_split`: a hugetlb VMA can be split only at a huge page boundary, so an
 * operation whose edge falls inside one fails with `-EINVAL`.
 */
export function hugetlbAligned(mm: Mm, start: number, end: number): boolean {
  const size = pmdSize(mm);
  for (const a of [start, end]) {
    const v = mm.lookupVma(a);
    if (v?.hugetlb && a % size !== 0) return false;
  }
  return true;
}
