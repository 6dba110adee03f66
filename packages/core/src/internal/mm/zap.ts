/**
 * `zap_pte_range` (mm/memory.c): clears the entries of a range inside an invalidation. Pages are
 * not freed here: like the kernel's mmu_gather, the caller puts them after the invalidation ends.
 */
import { dropHugePmds } from './huge.js';
import type { Mm } from './mm.js';
import type { Page } from './page.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_SWAP,
  pteFlags,
  pteKindOf,
  ptePfn,
} from './pte.js';

/**
 * Clears every entry of `[start, end)` under invalidation `inv`. References the entries held are
 * appended to `toPut`.
 */
export function zapPtes(mm: Mm, start: number, end: number, inv: number, toPut: Page[], why: string): void {
  // zap_huge_pmd for the PMD mappings inside the range; the caller split those it covers in part.
  if (mm.hugePmds.size > 0) dropHugePmds(mm, start, end);
  const ps = mm.kernel.pageSize;
  const first = Math.floor(start / ps);
  const last = Math.ceil(end / ps);
  const pt = mm.pt;
  if (mm.scanDense(first, last)) {
    // Probing each vpn visits the same entries in the same order as vpnsInRange: zapping one
    // entry changes no other.
    for (let vpn = first; vpn < last; vpn++) {
      const e = pt.get(vpn);
      if (e !== undefined) zapPte(mm, vpn, e, inv, toPut, why);
    }
    return;
  }
  for (const vpn of mm.vpnsInRange(start, end)) zapPte(mm, vpn, pt.get(vpn) ?? 0, inv, toPut, why);
}

/** Clears entry `e` of `vpn` (one step of {@link zapPtes}). */
function zapPte(mm: Mm, vpn: number, e: number, inv: number, toPut: Page[], why: string): void {
  const k = mm.kernel;
  const va = vpn * k.pageSize;
  switch (pteKindOf(e)) {
    case PTE_PRESENT: {
      const page = k.pages.page(ptePfn(e));
      mm.setPte(vpn, 0, inv, why);
      if (page.isZero) break;
      if ((pteFlags(e) & PTE_DIRTY) !== 0) page.dirty = true;
      mm.rmapRemove(page, va);
      toPut.push(page);
      break;
    }
    case PTE_SWAP:
      mm.setPte(vpn, 0, inv, why);
      k.swap.free(ptePfn(e), k.pages);
      break;
    case PTE_MIGRATION: {
      // The migrating task holds the page; the entry itself holds no reference.
      const page = k.pages.page(ptePfn(e));
      mm.setPte(vpn, 0, inv, why);
      mm.rmapRemove(page, va, false);
      break;
    }
    case PTE_DEVICE_PRIVATE:
    case PTE_DEVICE_EXCLUSIVE: {
      const page = k.pages.page(ptePfn(e));
      mm.setPte(vpn, 0, inv, why);
      mm.rmapRemove(page, va);
      toPut.push(page);
      break;
    }
    default:
      break;
  }
}

/**
 * Puts the references collected by {@link zapPtes} (`tlb_finish_mmu`, whose
 * `free_pages_and_swap_cache` first takes a page no entry maps any more out of the swap cache:
 * `free_swap_cache`, mm/swap_state.c). A page reclaim put in the swap cache and then failed to
 * unmap (it holds the cache's reference while still mapped) goes away with its last mapping.
 */
export function putPages(mm: Mm, pages: Page[]): void {
  const k = mm.kernel;
  for (const p of pages) {
    if (p.swapSlot !== 0 && p.mapcount === 0) freeSwapCache(mm, p);
    k.pages.putPage(p);
  }
}

/**
 * `free_swap_cache` → `try_to_free_swap`: an unmapped page leaves the swap cache, dropping the
 * cache's reference, unless its page lock is held (reclaim is at work on it) or a swap entry still
 * references its slot (`page_swapped`: the slot's contents are still needed).
 */
function freeSwapCache(mm: Mm, p: Page): void {
  const k = mm.kernel;
  const slot = p.swapSlot;
  const s = k.swap.get(slot);
  if (p.locked || (s !== undefined && s.count > 0)) return;
  k.swap.uncache(slot);
  p.swapSlot = 0;
  k.pages.putPage(p);
}
