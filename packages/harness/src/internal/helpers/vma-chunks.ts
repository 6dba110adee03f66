/**
 * The per-VMA, per-chunk walk every migration ioctl does (test_hmm `dmirror_migrate_to_device`,
 * nouveau `nouveau_dmem_migrate_vma`): `migrate_vma_setup` works on one VMA and drivers bound
 * their arrays, so a range is cut at VMA ends and every `chunkPages` pages.
 */
import { EINVAL, type Mm, type Vma } from '@hmmlab/core';

/**
 * Calls `fn(vma, start, end)` for each chunk of `[start, end)`, in order, with the mmap read lock
 * held. Stops at the first negative return, and returns `-EINVAL` where no readable VMA maps the
 * range (as `dmirror_migrate_to_device` does). Returns 0 otherwise.
 */
export async function forEachVmaChunk(
  mm: Mm,
  start: number,
  end: number,
  chunkPages: number,
  fn: (vma: Vma, start: number, end: number) => Promise<number>,
): Promise<number> {
  const ps = mm.kernel.pageSize;
  await mm.mmapLock.downRead();
  try {
    for (let addr = start; addr < end; ) {
      const vma = mm.findVma(addr);
      if (vma === undefined || !vma.readable) return -EINVAL;
      const next = Math.min(end, addr + chunkPages * ps, vma.end);
      const r = await fn(vma, addr, next);
      if (r < 0) return r;
      addr = next;
    }
    return 0;
  } finally {
    mm.mmapLock.upRead();
  }
}
