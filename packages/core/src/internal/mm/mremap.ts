/**
 * mremap (mm/mremap.c): shrink in place, grow in place, or move with `MREMAP_MAYMOVE` /
 * `MREMAP_FIXED` / `MREMAP_DONTUNMAP`. A move runs `move_page_tables` inside one
 * `MMU_NOTIFY_UNMAP` invalidation of the old range: entries move to the new address without
 * copying pages, and the old VMA goes away unless `MREMAP_DONTUNMAP` keeps it, empty.
 */
import { EFAULT, EINVAL, ENOMEM } from '../errors.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_UNMAP } from '../notifier/range.js';
import { MMAP_MIN_ADDR, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, TASK_SIZE } from './constants.js';
import { type HugePmdKind, hugePmdsIn, pmdSize, splitHugePmd, splitVmaAt } from './huge.js';
import type { Mm } from './mm.js';
import { findGap } from './mmap.js';
import { doMunmap } from './munmap.js';
import { PTE_DEVICE_EXCLUSIVE, PTE_DEVICE_PRIVATE, PTE_MIGRATION, PTE_PRESENT, pteKindOf, ptePfn } from './pte.js';
import type { Vma } from './vma.js';

/** `mremap(2)`. */
export async function mremap(
  mm: Mm,
  oldAddr: number,
  oldLength: number,
  newLength: number,
  flags: number,
  newAddr: number,
): Promise<number> {
  const k = mm.kernel;
  if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0) return -EINVAL;
  if ((flags & MREMAP_FIXED) !== 0 && (flags & MREMAP_MAYMOVE) === 0) return -EINVAL;
  if ((flags & MREMAP_DONTUNMAP) !== 0 && ((flags & MREMAP_MAYMOVE) === 0 || oldLength !== newLength)) return -EINVAL;
  if (!Number.isInteger(oldAddr) || oldAddr % k.pageSize !== 0) return -EINVAL;
  if (!Number.isInteger(oldLength) || !Number.isInteger(newLength) || oldLength < 0 || newLength <= 0) return -EINVAL;
  const oldLen = k.pageAlign(oldLength);
  const newLen = k.pageAlign(newLength);
  await mm.mmapLock.downWrite();
  try {
    const vma = mm.findVma(oldAddr);
    if (vma === undefined || oldAddr + oldLen > vma.end) return -EFAULT;
    // vma_to_resize (6.1): hugetlb mappings are not remapped.
    if (vma.hugetlb) return -EINVAL;
    if ((flags & MREMAP_FIXED) !== 0) {
      if (newAddr % k.pageSize !== 0 || newAddr < MMAP_MIN_ADDR || newAddr + newLen > TASK_SIZE) return -EINVAL;
      if (newAddr < oldAddr + oldLen && oldAddr < newAddr + newLen) return -EINVAL;
      await doMunmap(mm, newAddr, newAddr + newLen, 'mremap-fixed');
      let moveLen = oldLen;
      if (oldLen > newLen) {
        // mremap_to: the tail that does not fit goes first, then only newLen bytes move.
        await doMunmap(mm, oldAddr + newLen, oldAddr + oldLen, 'mremap-shrink');
        moveLen = newLen;
      }
      return await moveVma(mm, oldAddr, moveLen, newAddr, newLen, (flags & MREMAP_DONTUNMAP) !== 0);
    }
    if ((flags & MREMAP_DONTUNMAP) !== 0) {
      const to = findGap(mm, newLen);
      if (to < 0) return to;
      return await moveVma(mm, oldAddr, oldLen, to, newLen, true);
    }
    if (newLen <= oldLen) {
      if (newLen < oldLen) await doMunmap(mm, oldAddr + newLen, oldAddr + oldLen, 'mremap-shrink');
      return oldAddr;
    }
    const v = mm.findVma(oldAddr) as Vma;
    if (v.end === oldAddr + oldLen && mm.vmasIn(v.end, oldAddr + newLen).length === 0 && oldAddr + newLen <= TASK_SIZE) {
      v.end = oldAddr + newLen;
      if (k.trace.on) k.trace.emit({ type: 'vma', mm: mm.id, op: 'mremap-grow', start: oldAddr, end: v.end, detail: '' });
      return oldAddr;
    }
    if ((flags & MREMAP_MAYMOVE) === 0) return -ENOMEM;
    const to = findGap(mm, newLen);
    if (to < 0) return to;
    return await moveVma(mm, oldAddr, oldLen, to, newLen, false);
  } finally {
    mm.mmapLock.upWrite();
  }
}

/** `move_vma`: the caller holds the mmap lock for writing. */
async function moveVma(mm: Mm, oldAddr: number, oldLen: number, newAddr: number, newLen: number, dontUnmap: boolean): Promise<number> {
  const k = mm.kernel;
  const ps = k.pageSize;
  await splitVmaAt(mm, oldAddr);
  await splitVmaAt(mm, oldAddr + oldLen);
  const old = mm.findVma(oldAddr) as Vma;
  const moved = old.clone();
  moved.start = newAddr;
  moved.end = newAddr + newLen;
  mm.insertVma(moved);
  if (k.trace.on)
    k.trace.emit({
      type: 'vma',
      mm: mm.id,
      op: 'mremap-move',
      start: oldAddr,
      end: oldAddr + oldLen,
      detail: `to 0x${newAddr.toString(16)}${dontUnmap ? ' (DONTUNMAP)' : ''}`,
    });
  if (k.trace.on) k.trace.emit({ type: 'mremap', mm: mm.id, from: oldAddr, to: newAddr, len: oldLen });
  const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, oldAddr, oldAddr + oldLen);
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  const delta = newAddr - oldAddr;
  // move_page_tables: a PMD moves whole (move_huge_pmd) when the old and new addresses are both
  // PMD aligned; otherwise it is split (split_huge_pmd) and its entries move one by one.
  const size = pmdSize(mm);
  const movedPmds: [number, HugePmdKind][] = [];
  for (const idx of hugePmdsIn(mm, oldAddr, oldAddr + oldLen)) {
    const kind = mm.hugePmds.get(idx) as HugePmdKind;
    if (delta % size === 0) {
      mm.hugePmds.delete(idx);
      movedPmds.push([idx + delta / size, kind]);
    } else {
      await splitHugePmd(mm, idx * size);
    }
  }
  for (const vpn of mm.vpnsInRange(oldAddr, oldAddr + oldLen)) {
    const e = mm.pt.get(vpn) ?? 0;
    const va = vpn * ps;
    const kind = pteKindOf(e);
    if (kind === PTE_PRESENT || kind === PTE_MIGRATION || kind === PTE_DEVICE_PRIVATE || kind === PTE_DEVICE_EXCLUSIVE) {
      const page = k.pages.page(ptePfn(e));
      if (!page.isZero) mm.rmapMove(page, va, va + delta);
    }
    mm.setPte(vpn, 0, range.id, 'mremap-move');
    mm.setPte(vpn + delta / ps, e, -1, 'mremap-move');
  }
  for (const [idx, kind] of movedPmds) mm.hugePmds.set(idx, kind);
  await mmuNotifierInvalidateRangeEnd(range);
  if (!dontUnmap) mm.removeVma(old);
  return newAddr;
}
