/**
 * `dmirror_fops_mmap` (lib/test_hmm.c): mapping the device file gives a zeroed kernel page per
 * page, inserted with `vm_insert_page` (so the VMA is `VM_MIXEDMAP`), for the `mixedmap` test.
 */
import { EINVAL, type Vma, vmInsertPage } from '@hmmlab/core';

/** `dmirror_fops_mmap`: returns 0 or the first `vm_insert_page` error. */
export function dmirrorFopsMmap(vma: Vma): number {
  const mm = vma.mm;
  if (mm === null) return -EINVAL;
  const k = mm.kernel;
  for (let addr = vma.start; addr < vma.end; addr += k.pageSize) {
    const page = k.pages.allocPage({ zero: true }); // alloc_page(GFP_KERNEL | __GFP_ZERO)
    const ret = vmInsertPage(vma, addr, page);
    k.pages.putPage(page); // __free_page on failure, put_page on success: vm_insert_page holds its own reference
    if (ret !== 0) return ret;
  }
  return 0;
}
