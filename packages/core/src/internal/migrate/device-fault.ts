/**
 * CPU faults on device entries (mm/memory.c `do_swap_page`): a device-private entry calls its
 * owner's `migrate_to_ram`; a device-exclusive entry is restored under its own one-page
 * invalidation (`remove_device_exclusive_entry`).
 */
import { offsetIn } from '../align.js';
import { hugePmdAt } from '../mm/huge.js';
import type { Mm } from '../mm/mm.js';
import type { Page } from '../mm/page.js';
import { mkPte, PTE_DIRTY, PTE_PRESENT, PTE_SOFT_DIRTY, PTE_WRITE, pteFlags, ptePfn, pteWrite } from '../mm/pte.js';
import type { Vma } from '../mm/vma.js';
import { invokeDriver } from '../notifier/invoke.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInitOwner } from '../notifier/mmu-notifier.js';
import type { DevPagemap, VmFault } from './memremap.js';

/** @internal Remembers who made a page device-exclusive (the oracle, and the `'caller'` what-if). */
export function rememberExclusiveOwner(page: Page, owner: unknown): void {
  page.exclusiveOwner = owner;
}

/**
 * `do_swap_page` on a device-private entry. By profile: no page reference (≤6.0, the race
 * 16ce101db85d fixed), a reference (6.1), or a page trylock first (~6.15; if it fails the fault
 * waits for the page lock and is retried).
 */
export async function devicePrivateFault(mm: Mm, vma: Vma, va: number, e: number, write: boolean): Promise<number> {
  const k = mm.kernel;
  const tr = k.trace;
  const pfn = ptePfn(e);
  if (tr.on) tr.emit({ type: 'private-fault', mm: mm.id, va, pfn, phase: 'begin' });
  try {
    return await privateFault(mm, vma, va, e, write);
  } finally {
    if (tr.on) tr.emit({ type: 'private-fault', mm: mm.id, va, pfn, phase: 'end' });
  }
}

/** {@link devicePrivateFault} between its trace events. */
async function privateFault(mm: Mm, vma: Vma, va: number, e: number, write: boolean): Promise<number> {
  const k = mm.kernel;
  // mm/huge_memory.c do_huge_pmd_device_private: under a device-private PMD, vmf->page is the
  // PMD's page, the folio's head; the page lock and reference below are the same.
  const pmd = mm.hugePmds.size > 0 && hugePmdAt(mm, va) === 'device-private';
  const page = pmd ? k.pages.page(ptePfn(e)).folio : k.pages.page(ptePfn(e));
  const pgmap = page.pgmap as DevPagemap;
  const migrateToRam = pgmap.ops.migrateToRam;
  if (migrateToRam === undefined) return 0;
  const vmf: VmFault = pmd ? { mm, vma, address: va, page, write, pmd } : { mm, vma, address: va, page, write };
  const context = `pgmap "${pgmap.name}" migrate_to_ram at 0x${va.toString(16)}`;
  const call = (): Promise<number> => invokeDriver(k.sched, context, false, () => migrateToRam.call(pgmap.ops, vmf), { leaked: [] });
  const mode = mm.profile.devicePrivateFault;
  if (mode === 'no-ref') return call();
  if (mode === 'ref') {
    k.pages.getPage(page);
    try {
      return await call();
    } finally {
      k.pages.putPage(page);
    }
  }
  if (!k.pages.trylockPage(page)) {
    await k.pages.waitOnPageLocked(page);
    return 0;
  }
  k.pages.getPage(page);
  try {
    return await call();
  } finally {
    k.pages.unlockPage(page);
    k.pages.putPage(page);
  }
}

/**
 * `remove_device_exclusive_entry`: the CPU touched a page a device holds exclusively. The entry is
 * restored under a one-page invalidation: `MMU_NOTIFY_EXCLUSIVE` with no owner up to ~6.14,
 * `MMU_NOTIFY_CLEAR` after.
 */
export async function deviceExclusiveFault(mm: Mm, vma: Vma, va: number, e: number): Promise<number> {
  const k = mm.kernel;
  const page = k.pages.page(ptePfn(e));
  if (!k.pages.tryGetPage(page)) return 0;
  if (!k.pages.trylockPage(page)) {
    // folio_lock_or_retry: wait for the lock, then the fault is retried.
    await k.pages.waitOnPageLocked(page);
    k.pages.putPage(page);
    return 0;
  }
  const ps = k.pageSize;
  const addr = va - offsetIn(va, ps);
  const p = mm.profile;
  // The what-if carries the owner on whichever event the profile restores with: EXCLUSIVE up to
  // ~6.14 (bug class S15), CLEAR after (A2: an owner on an event that is not MIGRATE/EXCLUSIVE).
  const owner = p.exclusiveRestoreOwner === 'caller' ? page.exclusiveOwner : undefined;
  const range = mmuNotifierRangeInitOwner(p.exclusiveRestoreEvent, 0, mm, addr, addr + ps, owner);
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  const vpn = addr / ps;
  if ((mm.pt.get(vpn) ?? 0) === e) {
    // restore_exclusive_pte: writable only if the entry was and the VMA still is (maybe_mkwrite).
    const flags = (pteWrite(e) && vma.writable ? PTE_WRITE | PTE_DIRTY : 0) | (pteFlags(e) & PTE_SOFT_DIRTY);
    mm.setPte(vpn, mkPte(PTE_PRESENT, page.pfn, flags), range.id, 'restore-exclusive');
  }
  await mmuNotifierInvalidateRangeEnd(range);
  k.pages.unlockPage(page);
  k.pages.putPage(page);
  return 0;
}
