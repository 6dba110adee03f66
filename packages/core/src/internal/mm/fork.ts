/**
 * fork's `dup_mmap` (kernel/fork.c) and `copy_page_range` (mm/memory.c). For each COW mapping the
 * parent's range is covered by one `MMU_NOTIFY_PROTECTION_PAGE` invalidation while its writable
 * entries are write-protected and shared with the child. Shared mappings, and private ones that
 * never held an anonymous page, are not copied: the child faults them in (`vma_needs_copy`).
 */
import { HmmlabError } from '../errors.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_PROTECTION_PAGE } from '../notifier/range.js';
import { VM_DONTCOPY, VM_MIXEDMAP, VM_PFNMAP } from './constants.js';
import { HPAGE_PMD_NR, type HugePmdKind, hugePmdsIn, pmdSize } from './huge.js';
import type { Mm } from './mm.js';
import {
  mkPte,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_EXCLUSIVE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SOFT_DIRTY,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
  pteClear,
  pteFlags,
  pteKindOf,
  ptePfn,
  pteWrite,
} from './pte.js';
import type { Vma } from './vma.js';

/** `dup_mmap`: returns the child's address space. */
export async function dupMm(parent: Mm): Promise<Mm> {
  const k = parent.kernel;
  if (parent.dead) {
    throw new HmmlabError('ERR_STATE', `fork: mm ${parent.id} has exited`);
  }
  await parent.mmapLock.downWrite();
  try {
    const child = k.createMm(parent.profile.name);
    child.mmapBase = parent.mmapBase;
    for (const v of parent.vmas) {
      if ((v.flags & VM_DONTCOPY) !== 0) continue;
      child.insertVma(v.clone());
    }
    if (k.trace.on) k.trace.emit({ type: 'fork', parent: parent.id, child: child.id });
    for (const v of parent.vmas) {
      if ((v.flags & VM_DONTCOPY) !== 0 || v.shared) continue;
      await copyPageRange(parent, child, v);
    }
    return child;
  } finally {
    parent.mmapLock.upWrite();
  }
}

/**
 * `vma_needs_copy` (mm/memory.c): raw-pfn and mixed mappings, and VMAs that ever held anonymous
 * pages (`anon_vma`). Anything else (a private mapping with only zero pages, or none) is left for
 * the child to fault in: no copy, no invalidation.
 */
function vmaNeedsCopy(vma: Vma): boolean {
  return (vma.flags & (VM_PFNMAP | VM_MIXEDMAP)) !== 0 || vma.anonVma;
}

/** `copy_page_range`: the invalidation of a COW VMA covers it whole, populated or not. */
async function copyPageRange(parent: Mm, child: Mm, vma: Vma): Promise<void> {
  const k = parent.kernel;
  if (!vmaNeedsCopy(vma)) return;
  const cow = vma.cow;
  const range = cow ? mmuNotifierRangeInit(MMU_NOTIFY_PROTECTION_PAGE, 0, parent, vma.start, vma.end) : null;
  if (range !== null) {
    await mmuNotifierInvalidateRangeStart(range);
    await k.sched.yield();
  }
  const inv = range === null ? -1 : range.id;
  const ps = k.pageSize;
  for (const vpn of parent.vpnsInRange(vma.start, vma.end)) {
    let e = parent.pt.get(vpn) ?? 0;
    const va = vpn * ps;
    let kind = pteKindOf(e);
    if (kind === PTE_DEVICE_EXCLUSIVE) {
      // copy_nonpresent_pte: restore the exclusive entry (try_restore_exclusive_pte), then copy it as present.
      // The entry comes from vma->vm_page_prot: none in a PROT_NONE VMA.
      const prot = !vma.readable ? PTE_PROTNONE : pteWrite(e) && vma.writable ? PTE_WRITE | PTE_DIRTY | PTE_SOFT_DIRTY : 0;
      const restored = mkPte(PTE_PRESENT, ptePfn(e), prot);
      parent.setPte(vpn, restored, inv, 'fork-restore-exclusive');
      e = restored;
      kind = PTE_PRESENT;
    }
    switch (kind) {
      case PTE_PRESENT: {
        const page = k.pages.page(ptePfn(e));
        if (page.isZero) {
          child.setPte(vpn, e, -1, 'fork');
          break;
        }
        if (cow && page.anon && page.pins > 0 && page.anonExclusive) {
          // copy_present_page: a possibly pinned page is copied for the child at once.
          const copy = k.pages.allocPage({ zero: false });
          k.pages.copyPage(copy, page, 'fork-pinned');
          copy.anon = true;
          copy.anonExclusive = true;
          child.rmapAdd(copy, va);
          child.setPte(vpn, mkPte(PTE_PRESENT, copy.pfn, pteFlags(e) | PTE_WRITE | PTE_DIRTY), -1, 'fork-copy');
          break;
        }
        let ce = pteClear(e, PTE_YOUNG);
        if (cow && pteWrite(e)) {
          parent.setPte(vpn, pteClear(e, PTE_WRITE), inv, 'fork-wrprotect');
          ce = pteClear(ce, PTE_WRITE);
        }
        if (page.anon) {
          page.anonExclusive = false;
          ce = pteClear(ce, PTE_DIRTY);
        }
        k.pages.getPage(page);
        child.rmapAdd(page, va);
        child.setPte(vpn, ce, -1, 'fork');
        break;
      }
      case PTE_SWAP:
        k.swap.dup(ptePfn(e));
        child.setPte(vpn, e, -1, 'fork');
        break;
      case PTE_MIGRATION: {
        // copy_nonpresent_pte: a writable or readable-exclusive migration entry becomes plainly
        // readable in both ("a previously exclusive entry is now shared").
        const page = k.pages.page(ptePfn(e));
        let ce = e;
        if (cow && (pteFlags(e) & (PTE_WRITE | PTE_EXCLUSIVE)) !== 0) {
          ce = pteClear(e, PTE_WRITE | PTE_EXCLUSIVE);
          parent.setPte(vpn, ce, inv, 'fork-wrprotect');
        }
        child.rmapAdd(page, va, false);
        child.setPte(vpn, ce, -1, 'fork');
        break;
      }
      case PTE_DEVICE_PRIVATE: {
        const page = k.pages.page(ptePfn(e));
        let ce = e;
        if (cow && pteWrite(e)) {
          ce = pteClear(e, PTE_WRITE);
          parent.setPte(vpn, ce, inv, 'fork-wrprotect');
        }
        page.anonExclusive = false;
        k.pages.getPage(page);
        child.rmapAdd(page, va);
        child.setPte(vpn, ce, -1, 'fork');
        break;
      }
      default:
        break;
    }
  }
  // copy_huge_pmd / copy_hugetlb_page_range: the child maps the same huge pages at the PMD level.
  // A block with a pinned page copied for the child stays a page table in the child.
  for (const idx of hugePmdsIn(parent, vma.start, vma.end)) {
    const first = (idx * pmdSize(parent)) / ps;
    let same = true;
    for (let i = 0; i < HPAGE_PMD_NR && same; i++) same = ptePfn(child.pt.get(first + i) ?? 0) === ptePfn(parent.pt.get(first + i) ?? 0);
    if (same) child.hugePmds.set(idx, parent.hugePmds.get(idx) as HugePmdKind);
  }
  if (range !== null) await mmuNotifierInvalidateRangeEnd(range);
}
