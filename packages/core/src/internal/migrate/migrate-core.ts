/**
 * The parts of mm/migrate_device.c shared by `migrate_vma_*` and `migrate_device_*`:
 * `migrate_device_unmap`, `__migrate_device_pages`, `__migrate_device_finalize`, with
 * `try_to_migrate` and `remove_migration_ptes` from mm/rmap.c and mm/migrate.c.
 */
import { offsetIn } from '../align.js';
import { HmmlabError } from '../errors.js';
import type { Kernel } from '../kernel.js';
import { HPAGE_PMD_NR, type HugePmdKind, hugePmdAt, pmdSize, splitHugePmd } from '../mm/huge.js';
import type { Mm } from '../mm/mm.js';
import type { Page } from '../mm/page.js';
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
  PTE_WRITE,
  PTE_YOUNG,
  pteFlags,
  pteKindOf,
  ptePfn,
  pteWrite,
} from '../mm/pte.js';
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  mmuNotifierRangeInitOwner,
} from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_MIGRATE, type MutableRange } from '../notifier/range.js';
import { MIGRATE_PFN_COMPOUND, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE, migratePfn, migratePfnToPage } from './migrate-pfn.js';

/** A pfn array as drivers pass it (a number array or a Float64Array). */
export interface PfnArray {
  /** Number of entries. */
  readonly length: number;
  [index: number]: number;
}

/** Whether `s` is a non-empty string of decimal digits (an index, as a property key spells it). */
function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * The key under which a view of {@link rangePfns} gives the array behind it (its `get` trap
 * answers it), rather than a module-level `WeakMap` from view to array: V8's young-generation
 * collector keeps the values of such a map alive until a full collection.
 */
const VIEW_TARGET = Symbol('pfn view target');

/** The array a view of {@link rangePfns} shows (or `a` itself). */
export function unboundPfns(a: PfnArray): PfnArray {
  return (a as PfnArray & { [VIEW_TARGET]?: PfnArray })[VIEW_TARGET] ?? a;
}

/** Throws for the access of `name[i]`, past the `n` entries of the range. */
function pastTheRange(api: string, name: string, n: number, i: number, verb: string): never {
  throw new HmmlabError(
    'ERR_BAD_ARGUMENT',
    `${api}: ${verb} ${name}[${i}], past the range's ${n} entries: only ${name}[0] to ${name}[${n - 1}] belong to it (in C, an out-of-bounds access)`,
  );
}

/**
 * The prototypes of the plain arrays that hold exactly a range's entries, by `api`, `name` and
 * `n` (a few per driver: one per range size it uses). Each is a proxy of an object that
 * inherits from `Array.prototype`, which JavaScript consults only for what the array itself
 * lacks: an index past its entries throws, anything else is `Array.prototype`'s.
 */
const guards = new Map<string, object>();
/** The prototypes of {@link guards}. */
const guardProtos = new Set<unknown>();

function guardFor(api: string, name: string, n: number): object {
  const key = `${api}\0${name}\0${n}`;
  let g = guards.get(key);
  if (g === undefined) {
    // The target inherits from Array.prototype, so that the array stays an `instanceof Array`
    // (a proxy of Array.prototype itself is not Array.prototype).
    g = new Proxy(Object.create(Array.prototype) as object, {
      get(t, prop, receiver) {
        if (typeof prop === 'string' && isDigits(prop)) {
          const i = Number(prop);
          if (i >= n) pastTheRange(api, name, n, i, 'read of');
          return undefined; // a hole of the range
        }
        return Reflect.get(t, prop, receiver);
      },
      set(t, prop, value, receiver) {
        if (typeof prop === 'string' && isDigits(prop) && Number(prop) >= n) pastTheRange(api, name, n, Number(prop), 'write to');
        return Reflect.set(t, prop, value, receiver);
      },
    });
    guards.set(key, g);
    guardProtos.add(g);
  }
  return g;
}

/**
 * A view of the first `n` entries of a driver's pfn array: the entries a call filled for a range
 * of `n` pages. An index past them throws: it names no page of the range, and in C it reads or
 * writes what the array held before, or what follows it (`migrate_vma_setup` fills `src[0..npages)`,
 * mm/migrate_device.c; `hmm_range_fault` fills `hmm_pfns[0..npages)`, mm/hmm.c), the out-of-bounds
 * access KASAN reports. The view has the array's storage and reports `length` `n`.
 *
 * A plain array of exactly `n` entries (as drivers allocate them) is its own view: its prototype
 * becomes one that throws for the indices past `n`, which JavaScript looks up there because the
 * array lacks them, so the entries themselves are read and written at full speed. Any other
 * array (a longer one, a typed array, whose indices never reach a prototype) is seen through a
 * `Proxy` that checks every access.
 */
export function rangePfns(a: PfnArray, n: number, api: string, name: string): PfnArray {
  const target = unboundPfns(a);
  if (Array.isArray(target) && target.length === n && Object.isExtensible(target)) {
    const proto: unknown = Object.getPrototypeOf(target);
    if (proto === Array.prototype || guardProtos.has(proto)) {
      Object.setPrototypeOf(target, guardFor(api, name, n));
      return target;
    }
  }
  const past = (prop: string | symbol): number | null => {
    if (typeof prop !== 'string' || !isDigits(prop)) return null;
    const i = Number(prop);
    return i >= n ? i : null;
  };
  const view = new Proxy(target, {
    get(t, prop) {
      if (prop === 'length') return n;
      if (prop === VIEW_TARGET) return t;
      const i = past(prop);
      if (i !== null) pastTheRange(api, name, n, i, 'read of');
      const v: unknown = Reflect.get(t, prop);
      // Array methods are generic and go through the view; a typed array's need the array itself.
      return typeof v === 'function' && ArrayBuffer.isView(t) ? (v as (...args: unknown[]) => unknown).bind(t) : v;
    },
    set(t, prop, value) {
      const i = past(prop);
      if (i !== null) pastTheRange(api, name, n, i, 'write to');
      return Reflect.set(t, prop, value);
    },
  });
  return view;
}

/** What `__migrate_device_pages` needs of a `struct migrate_vma` to fill holes. */
export interface HoleFill {
  readonly mm: Mm;
  readonly anonymous: boolean;
  readonly writable: boolean;
  readonly start: number;
  readonly end: number;
  readonly owner: unknown;
  readonly faultPage: Page | null;
}

const MIGRATION_KEEP = PTE_YOUNG | PTE_DIRTY | PTE_SOFT_DIRTY;

/**
 * @internal Builds the migration entry that replaces `e` (a present or device-private entry),
 * as `migrate_vma_collect_pmd` and `try_to_migrate_one` do.
 */
export function migrationEntryFor(e: number, page: Page, writable: boolean, anonExclusive: boolean): number {
  let flags = writable ? PTE_WRITE : anonExclusive ? PTE_EXCLUSIVE : 0;
  if (pteKindOf(e) === PTE_PRESENT) flags |= pteFlags(e) & MIGRATION_KEEP;
  else flags |= pteFlags(e) & PTE_SOFT_DIRTY;
  return mkPte(PTE_MIGRATION, page.pfn, flags);
}

/**
 * `try_to_migrate` (mm/rmap.c): the rmap walk visits the places of the locked page (its mappings
 * and migration entries), and `try_to_migrate_one` starts a one-page `MMU_NOTIFY_CLEAR` (no owner)
 * for each place it visits *before* `page_vma_mapped_walk` looks for the page there, then turns a
 * mapping it finds into a migration entry. A place whose entry is already a migration entry (the
 * process `migrate_vma_collect_pmd` unmapped) is notified all the same. The walk stops as soon as
 * the page is mapped nowhere (`rwc->done` = `page_not_mapped`).
 *
 * Order: `rmap_walk_anon` and `rmap_walk_file` iterate an interval tree (the anon_vma's, the
 * file's `i_mmap`) by `vm_pgoff`; a forked child's VMA goes in right after its parent's
 * (`anon_vma_clone`, `vma_interval_tree_insert_after` in `dup_mmap`), so at equal `vm_pgoff` the
 * older address space comes first. The kernel also visits VMAs of the tree that no longer map the
 * page at all; the model knows the page's places only.
 */
export async function tryToMigrate(k: Kernel, page: Page): Promise<void> {
  const vas = page.rmapVa;
  const places = page.rmapMm.map((m, i) => {
    const va = vas[i] as number;
    return { m, va, pgoff: m.lookupVma(va)?.pgoff ?? 0 };
  });
  places.sort((a, b) => a.pgoff - b.pgoff || a.m.id - b.m.id);
  for (const { m, va } of places) {
    if (page.mapcount === 0) break;
    const vpn = Math.floor(va / k.pageSize);
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, m, va, va + k.pageSize);
    await mmuNotifierInvalidateRangeStart(range);
    await k.sched.yield();
    const e = m.pt.get(vpn) ?? 0;
    const kind = pteKindOf(e);
    if ((kind === PTE_PRESENT || kind === PTE_DEVICE_PRIVATE || kind === PTE_DEVICE_EXCLUSIVE) && ptePfn(e) === page.pfn) {
      const exclusive = page.anon && page.anonExclusive;
      if (exclusive && page.pins > 0) {
        // folio_try_share_anon_rmap_pte failed: the page may be pinned; leave the mapping.
        await mmuNotifierInvalidateRangeEnd(range);
        continue;
      }
      page.anonExclusive = false;
      if (kind === PTE_PRESENT && (pteFlags(e) & PTE_DIRTY) !== 0) page.dirty = true;
      m.setPte(vpn, migrationEntryFor(e, page, pteWrite(e), exclusive), range.id, 'try-to-migrate');
      m.rmapReplace(page, page, va, true, false);
      k.pages.putPage(page);
    }
    await mmuNotifierInvalidateRangeEnd(range);
  }
}

/**
 * `remove_migration_ptes(src, dst)`: every migration entry of `src` becomes a mapping of `dst`
 * (the new page, or `src` itself when the migration is undone). No invalidation: permissions only
 * come back.
 */
export function removeMigrationPtes(k: Kernel, src: Page, dst: Page): void {
  const n = src.rmapCount;
  if (n === 0) return;
  if (n === 1) {
    // The common case, one entry: no copy of the entries the loop changes.
    removeMigrationPte(k, src, dst, src.rmapMm0 as Mm, src.rmapVa0);
    return;
  }
  const mms = src.rmapMm;
  const vas = src.rmapVa;
  for (let i = 0; i < n; i++) removeMigrationPte(k, src, dst, mms[i] as Mm, vas[i] as number);
}

/** One entry of {@link removeMigrationPtes}: the entry of `src` at `va` in `m`. */
function removeMigrationPte(k: Kernel, src: Page, dst: Page, m: Mm, va: number): void {
  const vpn = Math.floor(va / k.pageSize);
  const e = m.pt.get(vpn) ?? 0;
  if (pteKindOf(e) !== PTE_MIGRATION || ptePfn(e) !== src.pfn) return;
  const f = pteFlags(e);
  const writable = (f & PTE_WRITE) !== 0;
  let n: number;
  if (dst.isDevicePrivate) {
    n = mkPte(PTE_DEVICE_PRIVATE, dst.pfn, (writable ? PTE_WRITE : 0) | (f & PTE_SOFT_DIRTY));
  } else {
    n = mkPte(PTE_PRESENT, dst.pfn, (f & MIGRATION_KEEP) | (writable ? PTE_WRITE : 0));
    // remove_migration_pte builds the entry from vma->vm_page_prot: none in a PROT_NONE VMA
    // (another process's, after fork and mprotect).
    if (m.lookupVma(va)?.readable === false) n = mkPte(PTE_PRESENT, dst.pfn, (f & MIGRATION_KEEP) | PTE_PROTNONE);
  }
  if (dst.anon && (writable || (f & PTE_EXCLUSIVE) !== 0)) dst.anonExclusive = true;
  k.pages.getPage(dst, 'remove_migration_pte maps the migration destination');
  m.rmapReplace(src, dst, va, false, true);
  m.setPte(vpn, n, -1, 'remove-migration-ptes');
}

/** `migrate_vma_check_page`: false if somebody else holds a reference (a pin). */
function checkPage(page: Page, faultPage: Page | null): boolean {
  let extra = 1 + (page === faultPage ? 1 : 0);
  if (page.isZoneDevice) extra++;
  // folio_mapping(): the page cache, or the swap cache for an anonymous page in it.
  if (page.file !== null || page.swapSlot !== 0) extra++;
  return page.refcount - extra <= page.mapcount;
}

/**
 * `migrate_device_unmap`: isolates, unmaps (`try_to_migrate`) and checks every collected page;
 * pages that cannot migrate are restored and dropped from `src`. Returns the number of entries
 * still migrating, holes included. `faultPage` holds one extra reference (v6.1); it is locked by
 * `do_swap_page` rather than by collect only when `faultPageLocked` (1afaeb8293c9, ~6.15), and
 * then is never unlocked here.
 */
export async function migrateDeviceUnmap(
  k: Kernel,
  src: PfnArray,
  npages: number,
  faultPage: Page | null,
  faultPageLocked: boolean,
): Promise<number> {
  let unmapped = 0;
  let restore = 0;
  for (let i = 0; i < npages; i++) {
    const page = migratePfnToPage(k, src[i] as number);
    if (page === null) {
      if (((src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) unmapped++;
      continue;
    }
    if (!page.isZoneDevice) {
      if (page.isolated) {
        // folio_isolate_lru failed: somebody else isolated it.
        src[i] = (src[i] as number) - ((src[i] as number) & MIGRATE_PFN_MIGRATE);
        restore++;
        continue;
      }
      page.isolated = true;
      k.pages.getPage(page); // the isolation's reference
      k.pages.putPage(page); // drop the reference collect took
    }
    if (page.mapcount > 0) await tryToMigrate(k, page);
    if (page.mapcount > 0 || !checkPage(page, faultPage)) {
      if (!page.isZoneDevice) page.isolated = false; // folio_get + folio_putback_lru
      src[i] = (src[i] as number) - ((src[i] as number) & MIGRATE_PFN_MIGRATE);
      restore++;
      continue;
    }
    unmapped++;
  }
  for (let i = 0; i < npages && restore > 0; i++) {
    const page = migratePfnToPage(k, src[i] as number);
    if (page === null || ((src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) continue;
    removeMigrationPtes(k, page, page);
    src[i] = 0;
    if (!faultPageLocked || page !== faultPage) k.pages.unlockPage(page);
    k.pages.putPage(page);
    restore--;
  }
  return unmapped;
}

/**
 * `migrate_vma_insert_page`: maps a new page at a hole or zero-page entry, like
 * `do_anonymous_page` would. On failure the entry stops migrating.
 */
function insertPage(k: Kernel, m: HoleFill, addr: number, page: Page, src: PfnArray, i: number, inv: number): void {
  const mm = m.mm;
  const vpn = Math.floor(addr / k.pageSize);
  const orig = mm.pt.get(vpn) ?? 0;
  const fillable = pteKindOf(orig) === PTE_PRESENT ? ptePfn(orig) === k.pages.zeroPage.pfn : orig === 0;
  // check_stable_address_space in migrate_vma_insert_page.
  if (!m.anonymous || !fillable || mm.unstable) {
    src[i] = (src[i] as number) - ((src[i] as number) & MIGRATE_PFN_MIGRATE);
    return;
  }
  let entry: number;
  if (page.isDevicePrivate) entry = mkPte(PTE_DEVICE_PRIVATE, page.pfn, m.writable ? PTE_WRITE : 0);
  else entry = mkPte(PTE_PRESENT, page.pfn, m.writable ? PTE_WRITE | PTE_DIRTY : 0);
  page.anon = true;
  page.anonExclusive = true;
  mm.rmapAdd(page, addr);
  k.pages.getPage(page, 'migrate_vma_insert_page maps the migration destination');
  mm.setPte(vpn, entry, inv, 'migrate-insert-page');
  src[i] = MIGRATE_PFN_MIGRATE;
}

/**
 * `migrate_vma_insert_huge_pmd_page` (mm/migrate_device.c, profile `latest`): maps the new
 * PMD-sized folio at the PMD-sized hole (or huge zero PMD) at `addr`, as
 * `__do_huge_pmd_anonymous_page` would: a device-private PMD entry for a device-private folio, a
 * THP mapping otherwise. On failure the 512 entries stop migrating.
 */
function insertHugePmdPage(k: Kernel, m: HoleFill, addr: number, head: Page, src: PfnArray, i: number, inv: number): void {
  const mm = m.mm;
  const size = pmdSize(mm);
  const vma = mm.lookupVma(addr);
  const kind = hugePmdAt(mm, addr);
  const fillable = kind === 'zero' || (kind === undefined && !mm.anyPteInRange(addr, addr + size));
  // thp_vma_suitable_order, the pmd_none / is_huge_zero_pmd check, check_stable_address_space.
  if (
    !m.anonymous ||
    offsetIn(addr, size) !== 0 ||
    vma === undefined ||
    addr < vma.start ||
    addr + size > vma.end ||
    !fillable ||
    mm.unstable
  ) {
    for (let j = 0; j < HPAGE_PMD_NR; j++) src[i + j] = (src[i + j] as number) - ((src[i + j] as number) & MIGRATE_PFN_MIGRATE);
    return;
  }
  const first = addr / k.pageSize;
  for (let j = 0; j < HPAGE_PMD_NR; j++) {
    const p = k.pages.page(head.pfn + j);
    p.anon = true;
    p.anonExclusive = true;
    mm.rmapAdd(p, addr + j * k.pageSize);
    k.pages.getPage(p);
    const entry = p.isDevicePrivate
      ? mkPte(PTE_DEVICE_PRIVATE, p.pfn, m.writable ? PTE_WRITE : 0)
      : mkPte(PTE_PRESENT, p.pfn, m.writable ? PTE_WRITE | PTE_DIRTY : 0);
    mm.setPte(first + j, entry, inv, 'migrate-insert-huge-pmd-page');
  }
  mm.hugePmds.set(addr / size, head.isDevicePrivate ? 'device-private' : 'thp');
}

/**
 * `migrate_vma_split_unmapped_folio` (mm/migrate_device.c, profile `latest`): the destination of
 * a compound source entry is not compound, so the locked, unmapped source folio is split: its PMD
 * migration entry becomes 512 PTE migration entries (`split_huge_pmd_address`), the folio base
 * pages, each locked, and `src[i + j]` names page `j` with the head entry's flags.
 */
function splitUnmappedFolio(k: Kernel, m: HoleFill, src: PfnArray, i: number, head: Page): void {
  const s = src[i] as number;
  const flags = (s & MIGRATE_PFN_MIGRATE) + (s & MIGRATE_PFN_WRITE);
  const size = pmdSize(m.mm);
  const haddr = m.start + i * k.pageSize;
  if (m.mm.hugePmds.get(haddr / size) === 'migration') m.mm.hugePmds.delete(haddr / size);
  k.pages.splitFolio(head);
  src[i] = migratePfn(head.pfn) + flags;
  for (let j = 1; j < HPAGE_PMD_NR; j++) {
    const p = k.pages.page(head.pfn + j);
    k.pages.trylockPage(p);
    p.isolated = head.isolated;
    src[i + j] = migratePfn(p.pfn) + flags;
  }
}

/**
 * `__migrate_device_pages`: moves page metadata from each source to its destination, and fills
 * holes (with `fill` given), opening one invalidation from the first hole to the end.
 */
export async function migrateDevicePagesCore(
  k: Kernel,
  src: PfnArray,
  dst: PfnArray,
  npages: number,
  fill: HoleFill | null,
): Promise<void> {
  let range: MutableRange | null = null;
  for (let i = 0; i < npages; i++) {
    const newpage = migratePfnToPage(k, dst[i] as number);
    const page = migratePfnToPage(k, src[i] as number);
    // Profile latest: compound entries (MIGRATE_PFN_COMPOUND, set only where the profile has it).
    const srcCompound = ((src[i] as number) & MIGRATE_PFN_COMPOUND) !== 0;
    const dstCompound = ((dst[i] as number) & MIGRATE_PFN_COMPOUND) !== 0;
    if (newpage === null) {
      src[i] = (src[i] as number) - ((src[i] as number) & MIGRATE_PFN_MIGRATE);
      continue;
    }
    if (page === null) {
      if (((src[i] as number) & MIGRATE_PFN_MIGRATE) === 0) continue;
      if (fill === null) {
        // VM_BUG_ON(!migrate): only migrate_vma has holes.
        src[i] = (src[i] as number) - MIGRATE_PFN_MIGRATE;
        continue;
      }
      const addr = fill.start + i * k.pageSize;
      if (range === null) {
        const ev = fill.mm.profile.holeFillEvent;
        range = mmuNotifierRangeInitOwner(ev, 0, fill.mm, addr, fill.end, ev === MMU_NOTIFY_MIGRATE ? fill.owner : undefined);
        await mmuNotifierInvalidateRangeStart(range);
        await k.sched.yield();
      }
      if (dstCompound && newpage !== null) {
        insertHugePmdPage(k, fill, addr, newpage, src, i, range.id);
        i += HPAGE_PMD_NR - 1;
        continue;
      }
      if (srcCompound) {
        // A compound hole whose destination is base pages: each entry is filled on its own
        // (migrate_vma_insert_page splits a huge zero PMD first).
        src[i] = (src[i] as number) - MIGRATE_PFN_COMPOUND;
        if (hugePmdAt(fill.mm, addr) === 'zero') await splitHugePmd(fill.mm, addr);
        for (let j = 0; j < HPAGE_PMD_NR; j++) {
          const np = migratePfnToPage(k, dst[i + j] as number);
          if (np === null) {
            src[i + j] = 0;
            continue;
          }
          src[i + j] = MIGRATE_PFN_MIGRATE;
          insertPage(k, fill, addr + j * k.pageSize, np, src, i + j, range.id);
        }
        i += HPAGE_PMD_NR - 1;
        continue;
      }
      insertPage(k, fill, addr, newpage, src, i, range.id);
      continue;
    }
    if (((src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0 && srcCompound !== dstCompound) {
      if (dstCompound || fill === null) {
        // A compound destination for a base page, or a compound source of migrate_device_*
        // whose destination is not: that entry does not migrate.
        src[i] = (src[i] as number) - ((src[i] as number) & (MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND));
        continue;
      }
      splitUnmappedFolio(k, fill, src, i, page);
    }
    if (srcCompound && dstCompound) {
      // The whole folio moves: each page's metadata, then the 511 entries after the head.
      for (let j = 1; j < HPAGE_PMD_NR; j++) {
        const np = k.pages.page(newpage.pfn + j);
        const op = k.pages.page(page.pfn + j);
        if (k.trace.on) k.trace.emit({ type: 'migrate-pair', src: op.pfn, dst: np.pfn, owner: fill?.owner });
        np.anon = op.anon;
        np.dirty = op.dirty;
      }
    }
    if (newpage.isZoneDevice) {
      if (page.file !== null || (!page.anon && !page.isZoneDevice)) {
        // Only anonymous memory migrates to device memory.
        src[i] = (src[i] as number) - ((src[i] as number) & MIGRATE_PFN_MIGRATE);
        continue;
      }
      if (page.swapSlot !== 0) {
        // folio_free_swap: only when no swap entry still references the slot.
        const slot = k.swap.get(page.swapSlot);
        if (slot !== undefined && slot.count > 0) {
          src[i] = (src[i] as number) - ((src[i] as number) & MIGRATE_PFN_MIGRATE);
          continue;
        }
        k.swap.uncache(page.swapSlot);
        page.swapSlot = 0;
        k.pages.putPage(page);
      }
    }
    // folio_migrate_mapping + folio_migrate_flags
    if (k.trace.on) k.trace.emit({ type: 'migrate-pair', src: page.pfn, dst: newpage.pfn, owner: fill?.owner });
    newpage.anon = page.anon;
    newpage.dirty = page.dirty;
    newpage.file = page.file;
    newpage.index = page.index;
    if (srcCompound && dstCompound) i += HPAGE_PMD_NR - 1;
  }
  if (range !== null) await mmuNotifierInvalidateRangeEnd(range);
}

/**
 * `__migrate_device_finalize`: migration entries become mappings of the new pages, or of the
 * old ones where the entry did not migrate; pages are unlocked and their references dropped
 * (except the lock of a `faultPage` that `do_swap_page` locked, see {@link migrateDeviceUnmap}).
 */
export function migrateDeviceFinalizeCore(
  k: Kernel,
  src: PfnArray,
  dst: PfnArray,
  npages: number,
  faultPage: Page | null,
  faultPageLocked: boolean,
): void {
  for (let i = 0; i < npages; i++) {
    const s = src[i] as number;
    const t = dst[i] as number;
    const newpage = migratePfnToPage(k, t);
    const page = migratePfnToPage(k, s);
    const dstCompound = newpage !== null && (t & MIGRATE_PFN_COMPOUND) !== 0;
    if (page === null) {
      if (newpage !== null) {
        k.pages.unlockPage(newpage);
        k.pages.putPage(newpage);
        if (dstCompound) putTails(k, newpage);
      }
      if (dstCompound) i += HPAGE_PMD_NR - 1;
      continue;
    }
    if ((s & MIGRATE_PFN_COMPOUND) !== 0) {
      finalizeCompound(k, s, page, newpage, faultPage, faultPageLocked);
      i += HPAGE_PMD_NR - 1;
      continue;
    }
    let d: Page = newpage ?? page;
    if ((s & MIGRATE_PFN_MIGRATE) === 0 || newpage === null) {
      if (newpage !== null) {
        k.pages.unlockPage(newpage);
        k.pages.putPage(newpage);
      }
      d = page;
    }
    if (!d.isZoneDevice) d.isolated = false; // folio_add_lru
    removeMigrationPtes(k, page, d);
    if (!faultPageLocked || page !== faultPage) k.pages.unlockPage(page);
    k.pages.putPage(page);
    if (d !== page) {
      k.pages.unlockPage(d);
      k.pages.putPage(d);
    }
  }
}

/** The model's per-page references of a PMD-sized folio's tail pages (the kernel has one per folio). */
function putTails(k: Kernel, head: Page): void {
  for (let j = 1; j < HPAGE_PMD_NR; j++) k.pages.putPage(k.pages.page(head.pfn + j));
}

/**
 * `__migrate_device_finalize` of a compound entry that still heads a whole folio (profile
 * `latest`): `remove_migration_ptes` turns each PMD migration entry of the old folio into a PMD
 * mapping of the new one (`remove_migration_pmd`: a device-private PMD for a device-private folio)
 * or, when the entry did not migrate, back into a mapping of the old folio.
 */
function finalizeCompound(k: Kernel, s: number, page: Page, newpage: Page | null, faultPage: Page | null, faultPageLocked: boolean): void {
  const migrated = (s & MIGRATE_PFN_MIGRATE) !== 0 && newpage !== null;
  const d = migrated ? (newpage as Page) : page;
  const pmds: [Mm, number][] = [];
  for (let r = 0; r < page.rmapCount; r++) {
    const m = page.rmapMmAt(r);
    const va = page.rmapVaAt(r);
    if (offsetIn(va, pmdSize(m)) === 0 && m.hugePmds.get(va / pmdSize(m)) === 'migration') pmds.push([m, va]);
  }
  for (let j = 0; j < HPAGE_PMD_NR; j++) {
    const dp = k.pages.page(d.pfn + j);
    if (!dp.isZoneDevice) dp.isolated = false; // folio_add_lru
    removeMigrationPtes(k, k.pages.page(page.pfn + j), dp);
  }
  const kind: HugePmdKind = d.isDevicePrivate ? 'device-private' : 'thp';
  for (const [m, va] of pmds) m.hugePmds.set(va / pmdSize(m), kind);
  if (newpage !== null && !migrated) {
    k.pages.unlockPage(newpage);
    k.pages.putPage(newpage);
    putTails(k, newpage);
  }
  if (!faultPageLocked || page !== faultPage) k.pages.unlockPage(page);
  k.pages.putPage(page);
  putTails(k, page);
  if (migrated) {
    k.pages.unlockPage(d);
    k.pages.putPage(d);
    putTails(k, d);
  }
}
