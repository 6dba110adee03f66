/**
 * `get_user_pages_remote(mm, va, 1, FOLL_WRITE, …)` followed by `put_page`, as a driver calls it to
 * fault a page in and keep nothing (mm/gup.c `__get_user_pages` → `faultin_page`).
 */
import {
  EFAULT,
  handleMmFault,
  type Mm,
  PTE_PRESENT,
  pteAccessible,
  pteKindOf,
  pteWrite,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
} from '@hmmlab/core';

/** Faults before giving up: each makes progress unless an invalidation races it. */
const TRIES = 8;

/**
 * Faults the page at `va` in, writable if `write`, as `get_user_pages_remote` with `FOLL_WRITE`
 * (and a `put_page` of what it returned) does. A device-exclusive entry is undone on the way
 * (mm/memory.c `do_swap_page` → `remove_device_exclusive_entry`): a driver that converts pages
 * with `make_device_exclusive` inside a read section calls this before `mmu_interval_read_begin`,
 * for the conversion would otherwise undo an entry an earlier attempt left, under an invalidation
 * that moves the sequence, on every attempt. The caller holds the mmap read lock. Returns 0, or
 * `-EFAULT` where no VMA allows the access or the fault fails.
 */
export async function faultInUserPage(mm: Mm, va: number, write: boolean): Promise<number> {
  const vma = mm.findVma(va);
  if (vma === undefined || !(write ? vma.writable : vma.readable)) return -EFAULT;
  const addr = mm.kernel.pageAlignDown(va);
  for (let tries = 0; tries < TRIES; tries++) {
    const e = mm.pte(addr);
    if (pteKindOf(e) === PTE_PRESENT && pteAccessible(e) && (!write || pteWrite(e))) return 0;
    if ((await handleMmFault(mm, vma, addr, write)) & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) return -EFAULT;
  }
  return -EFAULT;
}
