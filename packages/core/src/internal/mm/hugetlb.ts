/**
 * hugetlbfs for `MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB` (mm/hugetlb.c), with one huge page
 * size, the PMD size. The kernel's pool (`Kernel.hugetlb`, sized by the `hugePages` option like
 * `vm.nr_hugepages`) backs every mapping: `mmap` reserves the mapping's huge pages or fails with
 * `-ENOMEM` (`hugetlb_reserve_pages` → `hugetlb_acct_memory`), a fault takes a page from the pool
 * and maps it whole (`hugetlb_no_page`), and a freed huge page goes back to the pool. A hugetlb
 * mapping is never split: its VMA boundaries must stay huge-page aligned (`hugetlb_vm_op_split`).
 */
import type { Kernel } from '../kernel.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_CLEAR } from '../notifier/range.js';
import { VM_FAULT_SIGBUS } from './fault.js';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, hugePmdAt, mapFolio, pmdSize } from './huge.js';
import type { Mm } from './mm.js';
import { PTE_DIRTY, PTE_SOFT_DIRTY, PTE_WRITE, PTE_YOUNG, ptePfn, pteSet } from './pte.js';
import type { Vma } from './vma.js';

/** `hugetlb_acct_memory`: reserves `n` huge pages of the pool; false if there are not enough. */
export function hugetlbReserve(k: Kernel, n: number): boolean {
  const h = k.hugetlb;
  if (h.free - h.reserved < n) return false;
  h.reserved += n;
  return true;
}

/**
 * `hugetlb_vm_op_close` for `[start, end)` of `mm`: the reservations of the huge pages never
 * faulted in go back to the pool.
 */
export function hugetlbUnreserveRange(mm: Mm, start: number, end: number): void {
  const h = mm.kernel.hugetlb;
  const size = pmdSize(mm);
  for (const v of mm.vmasIn(start, end)) {
    if (!v.hugetlb) continue;
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    for (let a = s - (s % size); a < e; a += size) {
      if (hugePmdAt(mm, a) === undefined && h.reserved > 0) h.reserved--;
    }
  }
}

/** `alloc_hugetlb_folio`: a huge page from the pool (a reserved one first), or null. */
function allocHugetlbFolio(k: Kernel): ReturnType<Kernel['pages']['allocFolio']> | null {
  const h = k.hugetlb;
  if (h.reserved > 0) h.reserved--;
  else if (h.free - h.reserved <= 0) return null;
  h.free--;
  const head = k.pages.allocFolio(HPAGE_PMD_ORDER);
  head.hugetlb = true;
  return head;
}

/**
 * `hugetlb_no_page`: a fault on an empty hugetlb PMD maps a whole huge page from the pool,
 * writable for a write fault (which then owns the page: `hugetlb_wp` reuses it). An empty pool
 * is `VM_FAULT_SIGBUS`.
 */
export function hugetlbFault(mm: Mm, vma: Vma, va: number, write: boolean): number {
  const k = mm.kernel;
  const head = allocHugetlbFolio(k);
  if (head === null) return VM_FAULT_SIGBUS;
  const size = pmdSize(mm);
  const haddr = va - (va % size);
  const flags = write && vma.writable ? PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY : PTE_YOUNG;
  mapFolio(mm, head, haddr, flags, 'hugetlb-fault');
  mm.hugePmds.set(haddr / size, 'hugetlb');
  return 0;
}

/**
 * `hugetlb_wp`: a write to a write-protected hugetlb PMD reuses an exclusive page whole, or
 * copies it to a new huge page from the pool under a `MMU_NOTIFY_CLEAR` of the huge page.
 */
export async function hugetlbWp(mm: Mm, vma: Vma, va: number): Promise<number> {
  const k = mm.kernel;
  const size = pmdSize(mm);
  const haddr = va - (va % size);
  const first = haddr / k.pageSize;
  const old = k.pages.page(ptePfn(mm.pt.get(first) ?? 0));
  let exclusive = true;
  for (let i = 0; i < HPAGE_PMD_NR && exclusive; i++) exclusive = k.pages.page(old.pfn + i).anonExclusive;
  if (exclusive) {
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      mm.setPte(first + i, pteSet(mm.pt.get(first + i) ?? 0, PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY), -1, 'hugetlb-wp-reuse');
    }
    return 0;
  }
  const copy = allocHugetlbFolio(k);
  if (copy === null) return VM_FAULT_SIGBUS;
  for (let i = 0; i < HPAGE_PMD_NR; i++) k.pages.copyPage(k.pages.page(copy.pfn + i), k.pages.page(old.pfn + i), 'hugetlb-cow');
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + size);
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const p = k.pages.page(old.pfn + i);
    mm.rmapRemove(p, haddr + i * k.pageSize);
    mm.setPte(first + i, 0, range.id, 'hugetlb-cow');
  }
  mapFolio(mm, copy, haddr, vma.writable ? PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY : PTE_YOUNG, 'hugetlb-cow');
  await mmuNotifierInvalidateRangeEnd(range);
  for (let i = 0; i < HPAGE_PMD_NR; i++) k.pages.putPage(k.pages.page(old.pfn + i));
  return 0;
}
