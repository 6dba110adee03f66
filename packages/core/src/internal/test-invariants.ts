/**
 * The mm model's consistency invariants, recomputed from scratch for tests (imported only by
 * `*.test.ts`; excluded from the build): page tables, reverse maps, map counts, reference counts,
 * swap slots and the page cache must agree.
 */
import type { Kernel } from './kernel.js';
import { checkHugePmds } from './mm/huge.js';
import type { Mm } from './mm/mm.js';
import type { Page } from './mm/page.js';
import { PTE_DEVICE_EXCLUSIVE, PTE_DEVICE_PRIVATE, PTE_MIGRATION, PTE_NONE, PTE_PRESENT, PTE_SWAP, pteKindOf, ptePfn } from './mm/pte.js';

/** Options of {@link checkMmInvariants}. */
export interface InvariantOptions {
  /**
   * The run is over and no driver holds pages: every allocated system page must be referenced by
   * exactly its mappings, the swap cache and the page cache (no leak, no extra put), every device
   * page in use by exactly its mappings, and every entry must lie inside a VMA.
   */
  quiescent?: boolean;
}

/** Every broken invariant, as a sentence; empty when the model is consistent. */
export function checkMmInvariants(k: Kernel, options: InvariantOptions = {}): string[] {
  const bad: string[] = [];
  const ps = k.pageSize;
  const mapped = new Map<Page, string[]>();
  const migrating = new Map<Page, string[]>();
  const swapRefs = new Map<number, number>();
  const add = (m: Map<Page, string[]>, p: Page, key: string): void => {
    const l = m.get(p);
    if (l === undefined) m.set(p, [key]);
    else l.push(key);
  };
  for (const mm of k.allMms()) {
    if (mm.dead && mm.pt.size > 0) bad.push(`mm ${mm.id} exited with ${mm.pt.size} entries left`);
    bad.push(...checkHugePmds(mm));
    for (const [vpn, e] of mm.pt) {
      const va = vpn * ps;
      const where = `mm ${mm.id} va 0x${va.toString(16)}`;
      if (e === 0) bad.push(`${where}: the page table stores pte_none explicitly`);
      if (options.quiescent === true && mm.lookupVma(va) === undefined) bad.push(`${where}: entry outside any VMA`);
      const kind = pteKindOf(e);
      const key = `${mm.id}:${va}`;
      if (kind === PTE_SWAP) {
        const slot = ptePfn(e);
        swapRefs.set(slot, (swapRefs.get(slot) ?? 0) + 1);
        if (k.swap.get(slot) === undefined) bad.push(`${where}: swap entry for slot ${slot}, which does not exist`);
        continue;
      }
      if (kind === PTE_NONE || kind > PTE_DEVICE_EXCLUSIVE) {
        bad.push(`${where}: entry ${e} has an unknown kind`);
        continue;
      }
      const page = k.pages.pfnToPage(ptePfn(e));
      if (page === undefined) {
        bad.push(`${where}: entry names pfn ${ptePfn(e)}, which does not exist`);
        continue;
      }
      if (page.free) bad.push(`${where}: entry maps free page ${String(page)}`);
      if (kind === PTE_PRESENT) {
        if (page.isDevicePrivate) bad.push(`${where}: present entry maps device-private ${String(page)}`);
        if (!page.isZero) add(mapped, page, key);
      } else if (kind === PTE_MIGRATION) {
        add(migrating, page, key);
        if (!page.locked) bad.push(`${where}: migration entry for ${String(page)}, which is not locked`);
      } else if (kind === PTE_DEVICE_PRIVATE) {
        if (!page.isDevicePrivate) bad.push(`${where}: device-private entry for ${String(page)}`);
        add(mapped, page, key);
      } else if (kind === PTE_DEVICE_EXCLUSIVE) {
        if (page.kind !== 'system' || !page.anon) bad.push(`${where}: device-exclusive entry for ${String(page)}`);
        add(mapped, page, key);
      }
    }
  }
  // A device page whose struct page was never made is free, unmapped and unreferenced.
  for (const page of k.pages.peekRange(1, k.pages.pfnCount - 1)) {
    if (page.isZero) continue;
    const m = mapped.get(page) ?? [];
    const mig = migrating.get(page) ?? [];
    const name = String(page);
    if (page.mapcount !== m.length) bad.push(`${name}: mapcount ${page.mapcount}, but ${m.length} entries map it`);
    const want = [...m, ...mig].sort();
    const have = page.rmapMm.map((mm: Mm, i) => `${mm.id}:${page.rmapVa[i]}`).sort();
    if (want.join() !== have.join()) bad.push(`${name}: rmap [${have.join(' ')}], entries [${want.join(' ')}]`);
    if (page.free) {
      if (page.refcount !== 0) bad.push(`${name}: free with refcount ${page.refcount}`);
      if (page.pins !== 0) bad.push(`${name}: free with ${page.pins} pins`);
      if (page.locked) bad.push(`${name}: free and locked`);
      continue;
    }
    if (page.refcount < page.mapcount) bad.push(`${name}: refcount ${page.refcount} below mapcount ${page.mapcount}`);
    if (page.refcount < page.pins) bad.push(`${name}: refcount ${page.refcount} below pins ${page.pins}`);
    if (page.refcount <= 0) bad.push(`${name}: allocated with refcount ${page.refcount}`);
    if (page.swapSlot !== 0) {
      const slot = k.swap.get(page.swapSlot);
      if (slot === undefined || slot.cachePfn !== page.pfn)
        bad.push(`${name}: in the swap cache of slot ${page.swapSlot}, which does not hold it`);
    }
    if (page.file !== null && page.file.cache.get(page.index) !== page) bad.push(`${name}: page-cache page missing from its file's cache`);
    if (options.quiescent === true && page.kind === 'system') {
      const expected = page.mapcount + (page.swapSlot !== 0 ? 1 : 0) + (page.file !== null ? 1 : 0);
      if (page.refcount !== expected) {
        bad.push(`${name}: refcount ${page.refcount}, but mappings, swap cache and page cache hold ${expected}`);
      }
      if (page.locked) bad.push(`${name}: still locked`);
      if (page.isolated) bad.push(`${name}: still isolated`);
    }
    if (options.quiescent === true && page.isZoneDevice) {
      // A device page in use outside a migration is held by its mappings only.
      if (page.refcount !== page.mapcount) bad.push(`${name}: refcount ${page.refcount}, but ${page.mapcount} mappings`);
      if (page.locked) bad.push(`${name}: still locked`);
    }
  }
  for (const [slot, n] of swapRefs) {
    const s = k.swap.get(slot);
    if (s !== undefined && s.count !== n) bad.push(`swap slot ${slot}: count ${s.count}, but ${n} entries reference it`);
    if (s !== undefined && s.cachePfn !== 0) {
      const p = k.pages.pfnToPage(s.cachePfn);
      if (p === undefined || p.free || p.swapSlot !== slot) bad.push(`swap slot ${slot}: cache page ${s.cachePfn} does not belong to it`);
    }
  }
  return bad;
}
