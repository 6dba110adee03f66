/**
 * `struct mm_struct`: an address space with its VMAs, its page table, its mmap lock and its
 * notifier subscriptions. The syscall-like operations (mmap, munmap, fork, CPU loads and stores,
 * …) are methods; each lives in its own file and follows the kernel function named there.
 */

import { HmmlabError, hex } from '../errors.js';
import type { Kernel } from '../kernel.js';
import type { MmuNotifierSubscriptions } from '../notifier/subscriptions.js';
import type { KernelProfile } from '../profile.js';
import { hbAcquire, hbRelease, SyncClock } from '../sched/happens-before.js';
import { RwSemaphore } from '../sched/rwsem.js';
import type { WaitQueue } from '../sched/wait-queue.js';
import { clearRefs } from './clear-refs.js';
import { exitMmap } from './exit.js';
import { cpuAccess, cpuAccessNow, cpuReadRange, cpuWriteRange } from './fault.js';
import { dupMm } from './fork.js';
import type { HugePmdKind } from './huge.js';
import { madvise } from './madvise.js';
import { mmap } from './mmap.js';
import { mprotect } from './mprotect.js';
import { mremap } from './mremap.js';
import { munmap } from './munmap.js';
import type { Page } from './page.js';
import { PageTable, PTE_DEVICE_EXCLUSIVE, PTE_DEVICE_PRIVATE, PTE_MIGRATION, PTE_PRESENT, pteKindOf, ptePfn } from './pte.js';
import { reclaimVa } from './reclaim.js';
import type { Vma } from './vma.js';

/** An address space. */
export class Mm {
  /** Unique id, as in traces (`mm 1`). */
  readonly id: number;
  /** The kernel the address space belongs to. */
  readonly kernel: Kernel;
  /** The kernel API profile this mm follows. */
  readonly profile: KernelProfile;
  /** VMAs sorted by address. */
  readonly vmas: Vma[] = [];
  /** The page table: virtual page number → entry (see `pte.ts`); absent means `pte_none`. */
  readonly pt = new PageTable();
  /**
   * PMD mappings (see `huge.ts`): PMD index (`va / HPAGE_PMD_SIZE`) → what it maps. The 512
   * entries under each stay in {@link Mm.pt}.
   */
  readonly hugePmds = new Map<number, HugePmdKind>();
  /** `mmap_lock`. */
  readonly mmapLock: RwSemaphore;
  /** `mm_users`: the address space is alive while it is above zero. */
  users = 1;
  /** The process still holds its `mm_users` reference: it has not exited. */
  private processHolds = true;
  /** `mm_users` as an atomic, for happens-before: its value-returning updates are fully ordered. */
  private readonly usersClock = new SyncClock();

  /**
   * `atomic_inc_not_zero` / `atomic_dec_and_test` on `mm_users` are fully ordered
   * (Documentation/atomic_t.txt): the last `mmput` sees everything the other users did before
   * theirs, so `exit_mmap` and the release notifiers run after it.
   */
  private usersSync(): void {
    hbAcquire(this.kernel.sched, this.usersClock);
    hbRelease(this.kernel.sched, this.usersClock);
  }
  /** `mm_count`: the struct itself stays while it is above zero. */
  count = 1;
  /** Notifier state, created on first registration. */
  notifierSubscriptions: MmuNotifierSubscriptions | null = null;
  /** `exit_mmap` has run: no VMAs, no notifiers. */
  dead = false;
  /**
   * `MMF_UNSTABLE`: the OOM reaper tore the address space down; faults fail with SIGBUS
   * (`check_stable_address_space`).
   */
  unstable = false;
  /** Top of the region `mmap` hands addresses out from. */
  mmapBase = 0x7f0000000000;
  /**
   * @internal Invalidations between `invalidate_range_start` and `_end`, and the queue that
   * registration sleeps on until there are none (what `mm_take_all_locks` waits out).
   */
  invalidationsInFlight = 0;
  /** @internal */
  invalidationsWq: WaitQueue | null = null;

  constructor(kernel: Kernel, id: number, profile: KernelProfile) {
    this.kernel = kernel;
    this.id = id;
    this.profile = profile;
    this.mmapLock = new RwSemaphore(kernel.sched, `mm ${id} mmap_lock`);
  }

  /** Page size of the kernel this mm belongs to. */
  get pageSize(): number {
    return this.kernel.pageSize;
  }

  // ---- syscalls ---------------------------------------------------------------------------

  /** `mmap(2)`: returns the address, or a negative errno. */
  mmap(
    addr: number,
    length: number,
    prot: number,
    flags: number,
    file: import('./file.js').ModelFile | null = null,
    offset = 0,
  ): Promise<number> {
    return mmap(this, addr, length, prot, flags, file, offset);
  }

  /** `munmap(2)`: 0 or a negative errno. */
  munmap(addr: number, length: number): Promise<number> {
    return munmap(this, addr, length);
  }

  /** `mprotect(2)`: 0 or a negative errno. */
  mprotect(addr: number, length: number, prot: number): Promise<number> {
    return mprotect(this, addr, length, prot);
  }

  /** `mremap(2)`: the new address, or a negative errno. */
  mremap(oldAddr: number, oldLength: number, newLength: number, flags: number, newAddr = 0): Promise<number> {
    return mremap(this, oldAddr, oldLength, newLength, flags, newAddr);
  }

  /** `madvise(2)`: 0 or a negative errno. */
  madvise(addr: number, length: number, advice: number): Promise<number> {
    return madvise(this, addr, length, advice);
  }

  /** `fork(2)`'s `dup_mmap`: the child's address space. */
  fork(): Promise<Mm> {
    return dupMm(this);
  }

  /** Writing `value` to `/proc/pid/clear_refs` (4: clear soft-dirty bits). */
  clearRefs(value: number): Promise<number> {
    return clearRefs(this, value);
  }

  /** Process exit: drops the process's `mm_users` reference (`mmput`). */
  exit(): Promise<void> {
    this.processHolds = false;
    return this.put();
  }

  /** CPU load of the word at `va`, through the fault path. Throws a `SignalError` on SIGSEGV/SIGBUS. */
  read(va: number): Promise<number> {
    return cpuAccess(this, va, false, 0);
  }

  /** CPU store of `value` at `va`, through the fault path; resolves once the store is done (to no value to rely on). */
  write(va: number, value: number): Promise<unknown> {
    return cpuAccess(this, va, true, value);
  }

  /**
   * @internal A CPU load or store done at once when nothing can interleave with it (no other
   * task runnable, an uncontended mmap lock, at most an anonymous fault): the word loaded or
   * stored, with the steps and events `read`/`write` would give. Undefined when it needs their
   * general path: nothing was done, and the caller awaits `read` or `write`.
   */
  accessNow(va: number, write: boolean, value: number): number | undefined {
    return cpuAccessNow(this, va, write, value);
  }

  /** CPU loads of `count` consecutive words from `va` (one fault-path access per page). */
  readRange(va: number, count: number): Promise<Int32Array> {
    return cpuReadRange(this, va, count);
  }

  /** CPU stores of consecutive words from `va` (one fault-path access per page). */
  writeRange(va: number, values: ArrayLike<number>): Promise<void> {
    return cpuWriteRange(this, va, values);
  }

  /** Page reclaim of the page mapped at `va` (`shrink_folio_list` of that one page). 0, or `-EBUSY` if it could not be reclaimed. */
  reclaim(va: number): Promise<number> {
    return reclaimVa(this, va);
  }

  // ---- references -------------------------------------------------------------------------

  /** `mmget_not_zero`. */
  mmgetNotZero(): boolean {
    if (this.users <= 0) return false;
    this.usersSync();
    this.users++;
    return true;
  }

  /** `mmget`. */
  mmget(): void {
    if (this.users <= 0) {
      throw new HmmlabError('ERR_STATE', `mmget: mm ${this.id} has mm_users ${this.users}; use mmgetNotZero`);
    }
    this.users++;
  }

  /** `mmput`: the last user runs `exit_mmap`, in the caller's context as in the kernel. */
  async mmput(): Promise<void> {
    // The process holds one reference until it exits (`exit_mm`, kernel/exit.c): a put that would
    // take the last one while it runs drops a reference nobody took, and exit_mmap would tear the
    // address space down under the running process (the kernel does not notice; every later use
    // of the mm is a use after free).
    if (this.users === 1 && this.processHolds && this.kernel.sched.isRunning) {
      throw new HmmlabError(
        'ERR_STATE',
        `mmput: mm ${this.id} has mm_users 1, the reference its process holds until it exits: this mmput has no mmget (or mmgetNotZero) of its own, and exit_mmap would tear the address space down under the running process`,
      );
    }
    await this.put();
  }

  private async put(): Promise<void> {
    if (this.users <= 0) {
      throw new HmmlabError('ERR_STATE', `mmput: mm ${this.id} has mm_users ${this.users}; every mmput needs an mmget`);
    }
    this.usersSync();
    if (--this.users === 0) await exitMmap(this);
  }

  // ---- lookups ----------------------------------------------------------------------------

  /**
   * `vma_lookup`: the VMA containing `va`, or undefined. The caller holds the mmap lock: the VMA
   * tree changes under its write side (mm/mmap.c: `find_vma` calls `mmap_assert_locked`), and a
   * lookup without it, in a run, throws `ERR_NOT_LOCKED`.
   */
  findVma(va: number): Vma | undefined {
    if (this.kernel.sched.isRunning && !this.mmapLock.isHeldByCurrent()) {
      throw new HmmlabError(
        'ERR_NOT_LOCKED',
        `find_vma(${hex(va)}): the mmap lock of ${String(this)} is not held (mmap_assert_locked); take mm.mmapLock.downRead() around the lookup and the use of the VMA`,
      );
    }
    return this.lookupVma(va);
  }

  /**
   * @internal The VMA containing `va`, with no lock check: for code that reads the tree when no
   * task can change it (the oracle, invariants, a lockless fast path that checked the lock is free).
   */
  lookupVma(va: number): Vma | undefined {
    const v = this.vmas;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = v[mid] as Vma;
      if (m.end <= va) lo = mid + 1;
      else hi = mid;
    }
    const c = v[lo];
    return c !== undefined && c.start <= va ? c : undefined;
  }

  /** VMAs intersecting `[start, end)`, in address order. */
  vmasIn(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (const v of this.vmas) if (v.start < end && v.end > start) out.push(v);
    return out;
  }

  /** The entry mapping `va` (0 when none). */
  pte(va: number): number {
    return this.pt.get(Math.floor(va / this.kernel.pageSize)) ?? 0;
  }

  /** The page an entry at `va` refers to (present, migration, device-private or device-exclusive), if any. */
  pageAt(va: number): Page | undefined {
    const e = this.pte(va);
    const k = pteKindOf(e);
    if (k === PTE_PRESENT || k === PTE_MIGRATION || k === PTE_DEVICE_PRIVATE || k === PTE_DEVICE_EXCLUSIVE) {
      return this.kernel.pages.pfnToPage(ptePfn(e));
    }
    return undefined;
  }

  /**
   * Virtual page numbers with an entry in `[start, end)`, ascending. Costs what the populated
   * leaves of the range cost (see `PageTable`), so a sparse terabyte costs what its populated
   * pages cost.
   */
  vpnsInRange(start: number, end: number): number[] {
    const ps = this.kernel.pageSize;
    const first = Math.floor(start / ps);
    const last = Math.ceil(end / ps);
    return this.pt.vpnsIn(first, last);
  }

  /**
   * @internal True when the vpns `[first, last)` are few enough (at most four per entry of the
   * table) to probe one by one rather than list with {@link Mm.vpnsInRange}.
   */
  scanDense(first: number, last: number): boolean {
    return last - first <= this.pt.size * 4;
  }

  /** @internal True if some entry lies in `[start, end)` (`vpnsInRange(start, end).length > 0`). */
  anyPteInRange(start: number, end: number): boolean {
    const ps = this.kernel.pageSize;
    const first = Math.floor(start / ps);
    const last = Math.ceil(end / ps);
    return this.pt.anyIn(first, last);
  }

  // ---- internals used by the operations ---------------------------------------------------

  /** @internal Sets the entry of `vpn`, recording the change under invalidation `inv` (-1: none). */
  setPte(vpn: number, value: number, inv: number, why: string): void {
    // Small enough for V8 to inline into the hot paths, with the traced case apart.
    if (this.kernel.trace.on) this.setPteTraced(vpn, value, inv, why);
    else if (value === 0) this.pt.delete(vpn);
    else this.pt.set(vpn, value);
  }

  /** {@link Mm.setPte} when the trace is on: the event carries the old entry. */
  private setPteTraced(vpn: number, value: number, inv: number, why: string): void {
    const old = this.pt.get(vpn) ?? 0;
    if (value === 0) this.pt.delete(vpn);
    else this.pt.set(vpn, value);
    this.kernel.trace.emit({ type: 'pte', mm: this.id, va: vpn * this.kernel.pageSize, old, new: value, inv, why });
  }

  /**
   * @internal Adds a reverse mapping (`folio_add_*_rmap_pte`). `mapped` is false for migration
   * entries, which the rmap walk finds but `mapcount` does not count.
   */
  rmapAdd(page: Page, va: number, mapped = true): void {
    // An anonymous page mapped here means the VMA got its anon_vma (anon_vma_prepare).
    if (page.anon) {
      const v = this.lookupVma(va);
      if (v !== undefined) v.anonVma = true;
    }
    this.rmapLink(page, va, mapped);
  }

  /** @internal {@link Mm.rmapAdd} of a mapping at `va` in `vma`, a VMA of this mm the caller looked up. */
  rmapAddIn(vma: Vma, page: Page, va: number): void {
    if (page.anon) vma.anonVma = true;
    this.rmapLink(page, va, true);
  }

  /** Appends `(this, va)` to the page's reverse map. */
  private rmapLink(page: Page, va: number, mapped: boolean): void {
    page.rmapPush(this, va);
    if (mapped) page.mapcount++;
  }

  /** @internal Removes a reverse mapping (`folio_remove_rmap_pte`). */
  rmapRemove(page: Page, va: number, mapped = true): void {
    if (!page.rmapDrop(this, va)) {
      // Only the model changes entries and the reverse map together: no driver call can part them.
      throw new HmmlabError(
        'ERR_INTERNAL',
        `rmap: ${String(page)} has no mapping at ${hex(va)} in mm ${this.id}: the page table and the reverse map disagree (a bug of hmmlab)`,
      );
    }
    if (mapped) page.mapcount--;
  }

  /**
   * @internal The entry at `va` that referred to `from` now refers to `to` (the same page when a
   * mapping becomes a migration entry): `rmapRemove(from, va, wasMapped)` then
   * `rmapAdd(to, va, mapped)`, with the entry left in place when it is the only one of `from`
   * and `to` is `from`.
   */
  rmapReplace(from: Page, to: Page, va: number, wasMapped: boolean, mapped: boolean): void {
    if (to !== from || from.rmapCount !== 1 || from.rmapMm0 !== this || from.rmapVa0 !== va) {
      this.rmapRemove(from, va, wasMapped);
      this.rmapAdd(to, va, mapped);
      return;
    }
    if (to.anon) {
      const v = this.lookupVma(va);
      if (v !== undefined) v.anonVma = true;
    }
    if (wasMapped) from.mapcount--;
    if (mapped) to.mapcount++;
  }

  /** @internal Moves the reverse mapping of `page` at `va` to `newVa` (mremap moving the entry). */
  rmapMove(page: Page, va: number, newVa: number): void {
    page.rmapRetarget(this, va, newVa);
  }

  /** @internal Inserts a VMA, keeping address order. */
  insertVma(v: Vma): void {
    v.mm = this;
    let i = 0;
    while (i < this.vmas.length && (this.vmas[i] as Vma).start < v.start) i++;
    this.vmas.splice(i, 0, v);
  }

  /** @internal Removes a VMA. */
  removeVma(v: Vma): void {
    const i = this.vmas.indexOf(v);
    if (i >= 0) this.vmas.splice(i, 1);
  }

  /** @internal Splits VMAs so that `addr` is a boundary (`split_vma`). */
  splitAt(addr: number): void {
    const v = this.lookupVma(addr);
    if (v === undefined || v.start === addr) return;
    const tail = v.clone();
    tail.start = addr;
    if (v.file !== null) tail.pgoff = v.pgoff + (addr - v.start) / this.kernel.pageSize;
    v.end = addr;
    this.insertVma(tail);
  }

  /** `mm <id>`, for messages. */
  toString(): string {
    return `mm ${this.id}`;
  }
}
