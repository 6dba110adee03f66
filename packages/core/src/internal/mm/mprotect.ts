/**
 * mprotect (mm/mprotect.c `do_mprotect_pkey` → `mprotect_fixup` → `change_protection`): each VMA
 * whose flags change gets them, then one `MMU_NOTIFY_PROTECTION_VMA` invalidation covers its
 * populated part while its entries lose the permissions the new protection removes. A VMA that
 * already has the protection is left alone; a hole stops the walk with `-ENOMEM` after the VMAs
 * before it changed.
 */
import { EINVAL, ENOMEM } from '../errors.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_PROTECTION_VMA } from '../notifier/range.js';
import { PROT_EXEC, PROT_READ, PROT_WRITE, TASK_SIZE, VM_EXEC, VM_READ, VM_WRITE } from './constants.js';
import { splitVmaAt } from './huge.js';
import type { Mm } from './mm.js';
import { protToVmFlags } from './mmap.js';
import { hugetlbAligned } from './munmap.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_WRITE,
  pteClear,
  pteFlags,
  pteKindOf,
  ptePfn,
  pteSet,
} from './pte.js';
import type { Vma } from './vma.js';

/** `mprotect(2)`. */
export async function mprotect(mm: Mm, addr: number, length: number, prot: number): Promise<number> {
  const k = mm.kernel;
  if (!Number.isInteger(addr) || addr < 0 || addr % k.pageSize !== 0) return -EINVAL;
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0) return -EINVAL;
  if (!Number.isInteger(length) || length < 0) return -EINVAL;
  const len = k.pageAlign(length);
  if (len === 0) return 0;
  const end = addr + len;
  if (end > TASK_SIZE) return -ENOMEM;
  await mm.mmapLock.downWrite();
  try {
    // Hugetlb edges must be huge-page aligned (hugetlb_vm_op_split refuses the split).
    if (!hugetlbAligned(mm, addr, end)) return -EINVAL;
    // do_mprotect_pkey: the first VMA must contain addr, else nothing changes. Then VMA by VMA;
    // a hole after a VMA ends the walk with -ENOMEM, the VMAs before it already changed.
    const newProt = protToVmFlags(prot);
    let v = mm.lookupVma(addr);
    if (v === undefined) return -ENOMEM;
    let nstart = addr;
    for (;;) {
      const tmp = Math.min(v.end, end);
      // mprotect_fixup: nothing to do (no split, no invalidation) when the flags do not change.
      if (((v.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | newProt) !== v.flags) {
        // __split_vma → vma_adjust_trans_huge at each edge (a PMD mapping across it is split).
        await splitVmaAt(mm, nstart);
        await splitVmaAt(mm, tmp);
        const piece = mm.lookupVma(nstart) as Vma;
        piece.flags = (piece.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | newProt;
        if (k.trace.on)
          k.trace.emit({ type: 'vma', mm: mm.id, op: 'mprotect', start: piece.start, end: piece.end, detail: `prot ${prot}` });
        await changeProtection(mm, piece);
      }
      nstart = tmp;
      if (nstart >= end) break;
      const next = mm.lookupVma(nstart);
      if (next === undefined) return -ENOMEM;
      v = next;
    }
  } finally {
    mm.mmapLock.upWrite();
  }
  return 0;
}

/** The entry `e` of `vma` after `change_pte_range` applies the VMA's flags. */
function newEntry(mm: Mm, vma: Vma, e: number): number {
  const kind = pteKindOf(e);
  if (kind === PTE_PRESENT) {
    if (!vma.readable) return pteSet(pteClear(e, PTE_WRITE), PTE_PROTNONE);
    let n = pteClear(e, PTE_PROTNONE);
    if (!vma.writable) return pteClear(n, PTE_WRITE);
    // can_change_pte_writable: exclusive anon pages (private) or dirty entries (shared).
    const page = mm.kernel.pages.page(ptePfn(n));
    if (vma.shared ? (pteFlags(n) & PTE_DIRTY) !== 0 : page.anon && page.anonExclusive) n = pteSet(n, PTE_WRITE);
    return n;
  }
  if ((kind === PTE_MIGRATION || kind === PTE_DEVICE_PRIVATE) && !vma.writable) {
    // make_readable_migration_entry / make_readable_device_private_entry
    return pteClear(e, PTE_WRITE);
  }
  if (kind === PTE_DEVICE_EXCLUSIVE && !vma.writable && mm.profile.exclusive === 'range') {
    // make_readable_device_exclusive_entry (5.14–6.13; later kernels keep the entry and
    // restore_exclusive_pte consults VM_WRITE instead).
    return pteClear(e, PTE_WRITE);
  }
  return e;
}

/** `change_protection` of one VMA. */
async function changeProtection(mm: Mm, vma: Vma): Promise<void> {
  const k = mm.kernel;
  if (!mm.anyPteInRange(vma.start, vma.end)) return;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_PROTECTION_VMA, 0, mm, vma.start, vma.end);
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  const ps = k.pageSize;
  const first = Math.floor(vma.start / ps);
  const last = Math.ceil(vma.end / ps);
  const pt = mm.pt;
  if (mm.scanDense(first, last)) {
    // The entries vpnsInRange would list, in the same order: changing one entry adds or removes none.
    for (let vpn = first; vpn < last; vpn++) {
      const e = pt.get(vpn);
      if (e === undefined) continue;
      const n = newEntry(mm, vma, e);
      if (n !== e) mm.setPte(vpn, n, range.id, 'mprotect');
    }
  } else {
    for (const vpn of mm.vpnsInRange(vma.start, vma.end)) {
      const e = pt.get(vpn) ?? 0;
      const n = newEntry(mm, vma, e);
      if (n !== e) mm.setPte(vpn, n, range.id, 'mprotect');
    }
  }
  await mmuNotifierInvalidateRangeEnd(range);
}
