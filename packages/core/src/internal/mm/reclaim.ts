/**
 * Page reclaim of one chosen page (mm/vmscan.c `shrink_folio_list` → mm/rmap.c `try_to_unmap`):
 * with the page trylocked, every mapping is removed under its own one-page `MMU_NOTIFY_CLEAR`
 * invalidation (`try_to_unmap_one`). Anonymous pages go to swap, clean lazily-freed pages are
 * discarded, file pages are written back and dropped from the page cache. Pinned pages stay.
 */
import { EBUSY, EINVAL } from '../errors.js';
import type { Kernel } from '../kernel.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_CLEAR } from '../notifier/range.js';
import { canSplitFolio, splitHugePage } from './huge.js';
import type { Mm } from './mm.js';
import type { Page } from './page.js';
import { mkPte, PTE_DIRTY, PTE_PRESENT, PTE_SWAP, pteFlags, pteKindOf, ptePfn } from './pte.js';

/** Reclaims the page mapped at `va` in `mm`: 0, `-EINVAL` (nothing reclaimable there) or `-EBUSY`. */
export async function reclaimVa(mm: Mm, va: number): Promise<number> {
  const e = mm.pte(va);
  if (pteKindOf(e) !== PTE_PRESENT) return -EINVAL;
  const page = mm.kernel.pages.page(ptePfn(e));
  if (page.isZero || page.isZoneDevice) return -EINVAL;
  return shrinkPage(mm.kernel, page);
}

/** Reclaims one page: 0 when it was freed, `-EBUSY` when it is locked, pinned or still mapped. */
export async function shrinkPage(k: Kernel, page: Page): Promise<number> {
  if (page.free || page.isZero || page.isZoneDevice) return -EINVAL;
  // Only LRU pages are reclaimed: anonymous or page-cache pages, not a driver's own page that
  // vm_insert_page mapped.
  if (!page.anon && page.file === null) return -EINVAL;
  if (page.large) {
    // hugetlb folios are not on the LRU; a THP is split first (shrink_folio_list →
    // split_folio_to_list; the model has no THP swap-out).
    if (page.folio.hugetlb) return -EINVAL;
    const m = page.rmapMm0;
    if (m !== null && !(await splitHugePage(m, page.rmapVa0))) return -EBUSY;
    if (page.large) {
      // A folio no longer PMD-mapped: split_folio_to_list under the folio lock shrink_folio_list
      // took first (folio_trylock), and only without extra references (can_split_folio).
      const head = page.folio;
      if (!k.pages.trylockPage(head)) return -EBUSY;
      const ok = canSplitFolio(k, head, 0);
      if (ok) k.pages.splitFolio(head);
      k.pages.unlockPage(head);
      if (!ok) return -EBUSY;
    }
  }
  if (!k.pages.trylockPage(page)) return -EBUSY;
  const me = k.sched.current;
  try {
    if (page.pins > 0) return -EBUSY; // folio_maybe_dma_pinned
    // A lazily freed page (MADV_FREE) gets no swap slot: try_to_unmap_one decides for each
    // mapping, once the invalidation started, whether it may be discarded.
    const lazy = page.anon && page.lazyfree;
    let slot = 0;
    if (page.anon && !lazy) {
      // add_to_swap: the swap cache holds the page (with a reference) while it is unmapped.
      if (page.swapSlot === 0) {
        slot = k.swap.alloc(page.words, 0);
        page.swapSlot = slot;
        (k.swap.get(slot) as NonNullable<ReturnType<typeof k.swap.get>>).cachePfn = page.pfn;
        k.pages.getPage(page);
      } else {
        slot = page.swapSlot;
      }
    }
    // try_to_unmap: one invalidation per mapping.
    const mms = page.rmapMm;
    const vas = page.rmapVa;
    for (let i = 0; i < mms.length; i++) {
      const m = mms[i] as Mm;
      const va = vas[i] as number;
      const vpn = Math.floor(va / k.pageSize);
      const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, m, va, va + k.pageSize);
      await mmuNotifierInvalidateRangeStart(range);
      await k.sched.yield();
      const e = m.pt.get(vpn) ?? 0;
      if (pteKindOf(e) === PTE_PRESENT && ptePfn(e) === page.pfn) {
        if ((pteFlags(e) & PTE_DIRTY) !== 0) page.dirty = true;
        // mm/rmap.c try_to_unmap_one, "MADV_FREE page check": after the callbacks ran (a device
        // that wrote the page marks it dirty there), a page dirtied again or referenced beyond its
        // mappings is not discarded: its entry is put back and it becomes swap-backed.
        if (lazy && (page.dirty || page.refcount !== page.mapcount)) {
          page.lazyfree = false;
          await mmuNotifierInvalidateRangeEnd(range);
          return -EBUSY;
        }
        if (slot !== 0) {
          m.setPte(vpn, mkPte(PTE_SWAP, slot, 0), range.id, 'reclaim');
          k.swap.dup(slot);
        } else {
          m.setPte(vpn, 0, range.id, 'reclaim');
        }
        m.rmapRemove(page, va);
        k.pages.putPage(page);
      }
      await mmuNotifierInvalidateRangeEnd(range);
    }
    if (page.mapcount > 0) return -EBUSY;
    k.pages.unlockPage(page);
    if (slot !== 0) {
      const s = k.swap.get(slot);
      if (s !== undefined) {
        s.words.set(page.words);
        k.swap.uncache(slot);
      }
      page.swapSlot = 0;
      k.pages.putPage(page); // the swap cache's reference
      return 0;
    }
    if (page.file !== null) {
      // Writeback (if dirty) and removal from the page cache.
      page.file.evict(page);
      k.pages.putPage(page);
    }
    return 0;
  } finally {
    if (page.lockOwner === me) k.pages.unlockPage(page);
  }
}
