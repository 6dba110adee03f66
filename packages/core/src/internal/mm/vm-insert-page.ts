/**
 * `vm_insert_page` (mm/memory.c): a driver's `mmap` op maps a kernel page of its own into the
 * new VMA, which becomes `VM_MIXEDMAP`. The entry gets the VMA's `vm_page_prot`: writable only
 * in a shared writable mapping (a private one is copy-on-write).
 */
import { EBUSY, EFAULT, EINVAL, HmmlabError } from '../errors.js';
import { VM_MIXEDMAP, VM_PFNMAP } from './constants.js';
import type { Page } from './page.js';
import { mkPte, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE } from './pte.js';
import type { Vma } from './vma.js';

/** `vm_insert_page`: returns 0, `-EFAULT` (outside the VMA), `-EINVAL` (not insertable) or `-EBUSY` (already mapped). */
export function vmInsertPage(vma: Vma, addr: number, page: Page): number {
  const mm = vma.mm;
  if (mm === null) throw new HmmlabError('ERR_STATE', 'vm_insert_page: the VMA is not in an address space');
  if (addr < vma.start || addr >= vma.end) return -EFAULT;
  if ((vma.flags & VM_MIXEDMAP) === 0) {
    if (!mm.mmapLock.isHeldByCurrent()) {
      throw new HmmlabError('ERR_NOT_LOCKED', 'vm_insert_page: the mmap lock is not held; call it from a file mmap op');
    }
    if ((vma.flags & VM_PFNMAP) !== 0) throw new HmmlabError('ERR_STATE', 'vm_insert_page: the VMA is VM_PFNMAP');
    vma.flags |= VM_MIXEDMAP;
  }
  // validate_page_before_insert: no free, anonymous or ZONE_DEVICE pages.
  if (page.free || page.refcount === 0 || page.anon || page.isZoneDevice) return -EINVAL;
  const k = mm.kernel;
  const vpn = Math.floor(addr / k.pageSize);
  if ((mm.pt.get(vpn) ?? 0) !== 0) return -EBUSY;
  k.pages.getPage(page);
  mm.rmapAdd(page, vpn * k.pageSize);
  const flags = !vma.readable ? PTE_PROTNONE : vma.shared && vma.writable ? PTE_WRITE : 0;
  mm.setPte(vpn, mkPte(PTE_PRESENT, page.pfn, flags), -1, 'vm-insert-page');
  return 0;
}
