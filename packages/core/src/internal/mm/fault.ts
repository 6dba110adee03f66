/**
 * The CPU fault path (mm/memory.c `handle_mm_fault` → `handle_pte_fault`) and CPU loads and
 * stores. An access whose entry allows it touches the page directly (the hardware walk); any
 * other access faults under the mmap read lock and retries.
 */
import { offsetIn } from '../align.js';
import { HmmlabError, hex } from '../errors.js';
import { deviceExclusiveFault, devicePrivateFault } from '../migrate/device-fault.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_CLEAR } from '../notifier/range.js';
import { SignalError } from '../sched/scheduler.js';
import { VM_HUGETLB } from './constants.js';
import type { ModelFile } from './file.js';
import { doHugePmdAnonymousPage, HPAGE_PMD_NR, hugePmdAt, pmdSize, splitHugePmd, thpFaultAllowed } from './huge.js';
import { hugetlbFault, hugetlbWp } from './hugetlb.js';
import type { Mm } from './mm.js';
import type { AllocOptions, Page } from './page.js';
import {
  mkPte,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SOFT_DIRTY,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
  pteAccessible,
  pteClear,
  pteFlags,
  pteKindOf,
  ptePfn,
  pteSet,
  pteWrite,
} from './pte.js';
import type { Vma } from './vma.js';

/** `VM_FAULT_*` bits (include/linux/mm_types.h). */
export const VM_FAULT_OOM = 0x1;
/** The fault raises SIGBUS. */
export const VM_FAULT_SIGBUS = 0x2;
/** The fault raises SIGSEGV. */
export const VM_FAULT_SIGSEGV = 0x40;
/** The fault dropped the mmap lock: retry it. */
export const VM_FAULT_RETRY = 0x400;

const DIRTY_BITS = PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY;

const ZEROED: AllocOptions = { zero: true };

/** `do_anonymous_page`: the zero page for a read, a fresh zeroed page for a write. */
function doAnonymousPage(mm: Mm, vma: Vma, vpn: number, write: boolean): number {
  anonymousPte(mm, vma, vpn, write);
  return 0;
}

/** {@link doAnonymousPage}'s work on the entry of `vpn` in `vma`; returns the entry it installed. */
function anonymousPte(mm: Mm, vma: Vma, vpn: number, write: boolean): number {
  if (!write) return zeroPagePte(mm, vpn);
  const k = mm.kernel;
  const page = k.pages.allocPage(ZEROED);
  page.markAnonExclusive();
  mm.rmapAddIn(vma, page, vpn * k.pageSize);
  const e = mkPte(PTE_PRESENT, page.pfn, DIRTY_BITS);
  mm.setPte(vpn, e, -1, 'anon-fault');
  return e;
}

/** A read of a missing anonymous entry maps the shared zero page (`my_zero_pfn`). */
function zeroPagePte(mm: Mm, vpn: number): number {
  const z = mkPte(PTE_PRESENT, mm.kernel.pages.zeroPage.pfn, PTE_YOUNG);
  mm.setPte(vpn, z, -1, 'zero-page');
  return z;
}

/** `do_read_fault` / `do_cow_fault` / `do_shared_fault` for file and shmem mappings. */
function doFileFault(mm: Mm, vma: Vma, va: number, write: boolean): number {
  const k = mm.kernel;
  const file = vma.file;
  if (file === null) return VM_FAULT_SIGBUS;
  const index = vma.fileIndex(va, k.pageSize);
  if (index >= file.pageCount(k.pageSize)) return VM_FAULT_SIGBUS;
  const vpn = Math.floor(va / k.pageSize);
  const page = file.getPage(index);
  if (write && !vma.shared) {
    const copy = k.pages.allocPage({ zero: false });
    k.pages.copyPage(copy, page, 'cow');
    copy.anon = true;
    copy.anonExclusive = true;
    mm.rmapAdd(copy, va);
    mm.setPte(vpn, mkPte(PTE_PRESENT, copy.pfn, DIRTY_BITS), -1, 'cow-fault');
    return 0;
  }
  k.pages.getPage(page);
  mm.rmapAdd(page, va);
  let flags = PTE_YOUNG;
  if (write) {
    flags = DIRTY_BITS;
    page.dirty = true;
  } else if (vma.shared && vma.writable && file.shmem) {
    // shmem needs no write-notify: vm_page_prot of a shared writable mapping is writable.
    flags |= PTE_WRITE;
  }
  mm.setPte(vpn, mkPte(PTE_PRESENT, page.pfn, flags), -1, write ? 'shared-fault' : 'read-fault');
  if (!write && file.mmapOp === null) faultAround(mm, vma, va, flags);
  return 0;
}

/**
 * `do_fault_around` → `filemap_map_pages` (mm/memory.c, mm/filemap.c, v6.1): a read fault also
 * maps the pages of the file already in the page cache around it, in the `fault_around_bytes`
 * (64 KiB) aligned window, clamped to the VMA and its page table, where no entry is.
 */
function faultAround(mm: Mm, vma: Vma, va: number, flags: number): void {
  const k = mm.kernel;
  const file = vma.file as ModelFile;
  const ps = k.pageSize;
  const window = 16 * ps;
  const table = 512 * ps;
  const start = Math.max(va - offsetIn(va, window), vma.start);
  const end = Math.min(start + window, vma.end, start - offsetIn(start, table) + table);
  const size = file.pageCount(ps);
  for (let a = start; a < end; a += ps) {
    const index = vma.fileIndex(a, ps);
    const vpn = a / ps;
    if (index >= size || mm.pt.has(vpn)) continue;
    const page = file.cache.get(index);
    if (page === undefined) continue;
    k.pages.getPage(page);
    mm.rmapAdd(page, a);
    mm.setPte(vpn, mkPte(PTE_PRESENT, page.pfn, flags), -1, 'fault-around');
  }
}

/** `wp_can_reuse_anon_folio`: exclusive, or the only mapping and the only reference. */
function canReuse(page: Page): boolean {
  if (!page.anon || page.isZero) return false;
  if (page.anonExclusive) return true;
  // A swap-cache page is reusable only if folio_free_swap drops the cache's reference, and it
  // fails while a swap entry still references the slot (which is whenever the model keeps it).
  if (page.swapSlot !== 0) return false;
  return page.refcount === 1 && page.mapcount === 1;
}

/**
 * `do_huge_pmd_wp_page`: a write to a write-protected PMD. An exclusive anonymous folio is
 * reused whole (the PMD made writable); otherwise, and for the huge zero page, the PMD is split
 * (`__split_huge_pmd`) and the write retried on the entry (`VM_FAULT_FALLBACK`). Returns true
 * when it handled the write.
 */
async function doHugePmdWpPage(mm: Mm, va: number, page: Page): Promise<boolean> {
  const k = mm.kernel;
  const head = page.folio;
  if (hugePmdAt(mm, va) === 'thp' && head.anon) {
    let exclusive = true;
    for (let i = 0; i < HPAGE_PMD_NR && exclusive; i++) exclusive = canReuse(k.pages.page(head.pfn + i));
    if (exclusive) {
      const size = pmdSize(mm);
      const first = (va - offsetIn(va, size)) / k.pageSize;
      for (let i = 0; i < HPAGE_PMD_NR; i++) {
        k.pages.page(head.pfn + i).anonExclusive = true;
        mm.setPte(first + i, pteSet(mm.pt.get(first + i) ?? 0, DIRTY_BITS), -1, 'huge-wp-reuse');
      }
      return true;
    }
  }
  await splitHugePmd(mm, va);
  return false;
}

/** `do_wp_page`: a write to a present read-only entry. */
async function doWpPage(mm: Mm, vma: Vma, va: number, e: number): Promise<number> {
  const k = mm.kernel;
  const vpn = Math.floor(va / k.pageSize);
  const page = k.pages.page(ptePfn(e));
  if (mm.hugePmds.size > 0 && hugePmdAt(mm, va) !== undefined && !vma.shared) {
    if (hugePmdAt(mm, va) === 'hugetlb') return hugetlbWp(mm, vma, va);
    if (await doHugePmdWpPage(mm, va, page)) return 0;
    return 0; // split: the access retries on the entry
  }
  if (vma.shared) {
    // wp_page_shared: a permission upgrade, no invalidation.
    page.dirty = true;
    mm.setPte(vpn, pteSet(e, DIRTY_BITS), -1, 'wp-shared');
    return 0;
  }
  if (canReuse(page)) {
    page.anonExclusive = true;
    mm.setPte(vpn, pteSet(e, DIRTY_BITS), -1, 'wp-reuse');
    return 0;
  }
  // wp_page_copy: copy, then replace the entry inside a CLEAR invalidation of this page.
  const copy = k.pages.allocPage({ zero: page.isZero });
  if (!page.isZero) k.pages.copyPage(copy, page, 'cow');
  copy.anon = true;
  copy.anonExclusive = true;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, va, va + k.pageSize);
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  if ((mm.pt.get(vpn) ?? 0) === e) {
    if (!page.isZero) mm.rmapRemove(page, va);
    mm.rmapAdd(copy, va);
    mm.setPte(vpn, mkPte(PTE_PRESENT, copy.pfn, DIRTY_BITS), range.id, 'cow');
    await mmuNotifierInvalidateRangeEnd(range);
    if (!page.isZero) k.pages.putPage(page);
  } else {
    // pte_same failed: somebody changed the entry while the notifiers ran.
    await mmuNotifierInvalidateRangeEnd(range);
    k.pages.putPage(copy);
  }
  return 0;
}

/** `do_swap_page` for a swap entry: read the slot back through the swap cache. */
function doSwapPage(mm: Mm, vma: Vma, va: number, e: number, write: boolean): number {
  const k = mm.kernel;
  const vpn = Math.floor(va / k.pageSize);
  const slotId = ptePfn(e);
  const slot = k.swap.get(slotId);
  if (slot === undefined) return VM_FAULT_SIGBUS;
  let page: Page;
  if (slot.cachePfn !== 0) {
    page = k.pages.page(slot.cachePfn);
    k.pages.getPage(page);
  } else {
    page = k.pages.allocPage({ zero: false });
    page.words.set(slot.words);
    page.anon = true;
    page.swapSlot = slotId;
    slot.cachePfn = page.pfn;
    k.pages.getPage(page); // one reference for the swap cache, one for the mapping
  }
  // The kernel reads exclusivity from the swap pte (pte_swp_exclusive), which fork clears, or
  // from a folio nobody else references. Here: ours is the last entry of the slot and no other
  // process has mapped the swap-cache page already (after fork, both may share the slot).
  const exclusive = slot.count === 1 && page.mapcount === 0;
  page.anonExclusive = exclusive;
  mm.rmapAdd(page, va);
  const flags = write && exclusive && vma.writable ? DIRTY_BITS : PTE_YOUNG;
  mm.setPte(vpn, mkPte(PTE_PRESENT, page.pfn, flags), -1, 'swap-in');
  k.swap.free(slotId, k.pages);
  return 0;
}

/**
 * `handle_mm_fault` for one page; the caller holds the mmap lock for reading and checked the
 * VMA's permissions. Returns 0 (retry the access) or `VM_FAULT_*` bits.
 */
export async function handleMmFault(mm: Mm, vma: Vma, address: number, write: boolean): Promise<number> {
  const k = mm.kernel;
  // vmf->address is page aligned (__handle_mm_fault).
  const va = k.pageAlignDown(address);
  const vpn = va / k.pageSize;
  const e = mm.pt.get(vpn) ?? 0;
  // check_stable_address_space: the OOM reaper has torn this mm down.
  if (mm.unstable && e === 0) return VM_FAULT_SIGBUS;
  switch (pteKindOf(e)) {
    case 0:
      if ((vma.flags & VM_HUGETLB) !== 0) return hugetlbFault(mm, vma, va, write);
      if (vma.anonymous && thpFaultAllowed(mm, vma, va)) {
        doHugePmdAnonymousPage(mm, va, write);
        return 0;
      }
      return vma.anonymous ? doAnonymousPage(mm, vma, vpn, write) : doFileFault(mm, vma, va, write);
    case PTE_PRESENT:
      if ((pteFlags(e) & PTE_PROTNONE) !== 0) {
        // do_numa_page-like: the VMA allows the access, the entry is made accessible again.
        mm.setPte(vpn, pteClear(e, PTE_PROTNONE), -1, 'protnone-fault');
        return 0;
      }
      if (write && !pteWrite(e)) return doWpPage(mm, vma, va, e);
      mm.pt.set(vpn, pteSet(e, PTE_YOUNG));
      return 0;
    case PTE_SWAP:
      return doSwapPage(mm, vma, va, e, write);
    case PTE_MIGRATION: {
      // migration_entry_wait: sleep until the migrating page is unlocked, then refault.
      const page = k.pages.page(ptePfn(e));
      await k.pages.waitOnPageLocked(page);
      return 0;
    }
    case PTE_DEVICE_PRIVATE:
      return devicePrivateFault(mm, vma, va, e, write);
    case PTE_DEVICE_EXCLUSIVE:
      return deviceExclusiveFault(mm, vma, va, e);
    default:
      return VM_FAULT_SIGBUS;
  }
}

/** Faults `va` in under the mmap read lock, with the permission check of `do_user_addr_fault`. */
async function faultIn(mm: Mm, va: number, write: boolean): Promise<number> {
  await mm.mmapLock.downRead();
  try {
    const vma = mm.findVma(va);
    if (vma === undefined || (write ? !vma.writable : !vma.readable)) return VM_FAULT_SIGSEGV;
    return await handleMmFault(mm, vma, va, write);
  } finally {
    mm.mmapLock.upRead();
  }
}

function checkWordAddress(mm: Mm, api: string, va: number): void {
  // The error apart: every access inlines this check.
  if (!Number.isInteger(va) || va < 0 || offsetIn(va, mm.kernel.wordSize) !== 0) unalignedAccess(mm, api, va);
}

function unalignedAccess(mm: Mm, api: string, va: number): never {
  throw new HmmlabError(
    'ERR_UNALIGNED',
    `${api}: address ${typeof va === 'number' ? hex(va) : String(va)} is not aligned to the word size ${mm.kernel.wordSize}; use a multiple of kernel.wordSize`,
  );
}

/**
 * One CPU access to the page at `va`: a preemption point, then the hardware walk, faulting until
 * the entry allows the access. Returns the page; a store marks the entry dirty.
 */
async function accessPage(mm: Mm, va: number, write: boolean): Promise<Page> {
  const k = mm.kernel;
  const fast = accessAlone(mm, va, write);
  if (fast !== null) return fast;
  await k.sched.yield();
  const vpn = Math.floor(va / k.pageSize);
  for (;;) {
    const e = mm.pt.get(vpn) ?? 0;
    if (pteAccessible(e) && (!write || pteWrite(e))) {
      mm.pt.set(vpn, pteSet(e, write ? PTE_YOUNG | PTE_DIRTY | PTE_SOFT_DIRTY : PTE_YOUNG));
      return k.pages.page(ptePfn(e));
    }
    const r = await faultIn(mm, va, write);
    if ((r & VM_FAULT_SIGSEGV) !== 0) {
      throw new SignalError('SIGSEGV', va, `SIGSEGV: ${write ? 'write' : 'read'} at ${hex(va)} in mm ${mm.id}`);
    }
    if ((r & (VM_FAULT_SIGBUS | VM_FAULT_OOM)) !== 0) {
      throw new SignalError('SIGBUS', va, `SIGBUS: ${write ? 'write' : 'read'} at ${hex(va)} in mm ${mm.id}`);
    }
  }
}

/**
 * The same access when no other task could run and it needs at most an anonymous fault under an
 * uncontended mmap lock: nothing can interleave, so it is done synchronously, with its preemption
 * points counted and its events emitted as the general path would. Returns null otherwise.
 */
function accessAlone(mm: Mm, va: number, write: boolean): Page | null {
  const k = mm.kernel;
  const s = k.sched;
  if (!s.alone()) return null;
  const vpn = Math.floor(va / k.pageSize);
  const e = mm.pt.get(vpn) ?? 0;
  if (pteAccessible(e) && (!write || pteWrite(e))) {
    s.tick();
    mm.pt.set(vpn, pteSet(e, write ? PTE_YOUNG | PTE_DIRTY | PTE_SOFT_DIRTY : PTE_YOUNG));
    return k.pages.page(ptePfn(e));
  }
  const lock = mm.mmapLock;
  if (e !== 0 || mm.unstable || lock.writer !== null || lock.readers.length > 0 || lock.hasWaiters()) return null;
  const vma = mm.lookupVma(va);
  if (vma === undefined || !vma.anonymous || (write ? !vma.writable : !vma.readable)) return null;
  if (vma.hugetlb || (mm.kernel.thp !== 'never' && thpFaultAllowed(mm, vma, va))) return null;
  s.tick(); // the access
  s.tick(); // down_read's preemption point
  const tr = k.trace;
  tr.lockEvent(lock.name, 'acquire', 'read');
  lock.readSectionSync();
  const n = anonymousPte(mm, vma, vpn, write);
  tr.lockEvent(lock.name, 'release', 'read');
  // The access itself; the fresh entry usually has these bits already.
  const m = pteSet(n, write ? PTE_YOUNG | PTE_DIRTY | PTE_SOFT_DIRTY : PTE_YOUNG);
  if (m !== n) mm.pt.set(vpn, m);
  return k.pages.page(ptePfn(n));
}

/** A CPU load (`write = false`, returns the word) or store of `value` at `va`. */
export function cpuAccess(mm: Mm, va: number, write: boolean, value: number): Promise<number> {
  try {
    checkWordAddress(mm, write ? 'write' : 'read', va);
  } catch (e) {
    return Promise.reject(e);
  }
  const page = accessAlone(mm, va, write);
  if (page !== null) {
    if (!write) return touchWordNow(mm, page, va, false, 0);
    try {
      touchWord(mm, page, va, true, value);
    } catch (e) {
      return Promise.reject(e);
    }
    return STORED;
  }
  return accessPage(mm, va, write).then((p) => touchWord(mm, p, va, write, value));
}

/**
 * What a store done at once returns: one promise, fulfilled already, shared by every such store
 * (a store's promise carries no value its caller needs). In a loop of awaits, 202 bytes and 70 to
 * 75 ns an await, against 250 bytes and 80 to 91 ns with a promise made per store.
 */
const STORED: Promise<number> = Promise.resolve(0);

/**
 * {@link touchWord} as a promise fulfilled at once: an async function's own promise, which V8
 * makes and awaits a little faster than `Promise.resolve` of the word (37 against 41 ns per await).
 */
async function touchWordNow(mm: Mm, page: Page, va: number, write: boolean, value: number): Promise<number> {
  return touchWord(mm, page, va, write, value);
}

/**
 * The same access done at once when it needs no preemption point that another task could take
 * and at most an anonymous fault (see `accessAlone`): the word loaded or stored, with the same
 * steps and events as {@link cpuAccess}. Undefined when only the general path can do it: the
 * caller then awaits {@link cpuAccess}, which does the whole access, as nothing was done here.
 */
export function cpuAccessNow(mm: Mm, va: number, write: boolean, value: number): number | undefined {
  checkWordAddress(mm, write ? 'write' : 'read', va);
  const page = accessAlone(mm, va, write);
  return page === null ? undefined : touchWord(mm, page, va, write, value);
}

function touchWord(mm: Mm, page: Page, va: number, write: boolean, value: number): number {
  const k = mm.kernel;
  const w = page.wordOffset + Math.floor(k.pageOffset(va) / k.wordSize);
  if (write) page.slab[w] = value;
  const v = page.slab[w] as number;
  if (k.trace.on) k.trace.emit({ type: 'cpu-access', mm: mm.id, va, write, value: v, pfn: page.pfn });
  return v;
}

async function rangeAccess(mm: Mm, va: number, count: number, write: boolean, values: ArrayLike<number> | null): Promise<Int32Array> {
  const k = mm.kernel;
  checkWordAddress(mm, write ? 'writeRange' : 'readRange', va);
  const out = new Int32Array(write ? 0 : count);
  let i = 0;
  while (i < count) {
    const a = va + i * k.wordSize;
    const page = await accessPage(mm, a, write);
    const first = Math.floor(k.pageOffset(a) / k.wordSize);
    const n = Math.min(count - i, k.wordsPerPage - first);
    if (!k.trace.on) {
      // Nobody sees the single accesses: one block copy (values may be any array-like).
      if (!write) out.set(page.words.subarray(first, first + n), i);
      else if (ArrayBuffer.isView(values) && !(values instanceof DataView))
        page.words.set((values as Int32Array).subarray(i, i + n), first);
      else for (let j = 0; j < n; j++) page.words[first + j] = (values as ArrayLike<number>)[i + j] as number;
      i += n;
      continue;
    }
    for (let j = 0; j < n; j++) {
      if (write) page.words[first + j] = (values as ArrayLike<number>)[i + j] as number;
      else out[i + j] = page.words[first + j] as number;
      if (k.trace.on) {
        k.trace.emit({
          type: 'cpu-access',
          mm: mm.id,
          va: a + j * k.wordSize,
          write,
          value: page.words[first + j] as number,
          pfn: page.pfn,
        });
      }
    }
    i += n;
  }
  return out;
}

/** CPU loads of `count` words from `va`, one fault-path access per page. */
export function cpuReadRange(mm: Mm, va: number, count: number): Promise<Int32Array> {
  return rangeAccess(mm, va, count, false, null);
}

/** CPU stores of `values` from `va`, one fault-path access per page. */
export async function cpuWriteRange(mm: Mm, va: number, values: ArrayLike<number>): Promise<void> {
  await rangeAccess(mm, va, values.length, true, values);
}

/** `populate_vma_page_range`: faults every page of `[start, end)` in, for writing if `write`. */
export async function populateRange(mm: Mm, start: number, end: number, write: boolean): Promise<void> {
  const k = mm.kernel;
  for (let va = start; va < end; va += k.pageSize) {
    const e = mm.pte(va);
    if (pteAccessible(e) && (!write || pteWrite(e))) continue;
    await faultIn(mm, va, write);
  }
}
