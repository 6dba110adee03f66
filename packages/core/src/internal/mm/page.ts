/**
 * `struct page` and the page allocator. Every page has contents (`words`), so data can be checked
 * end to end; the page size and the number of words per page are settings of the kernel. The
 * contents of all pages live in large slabs, indexed by pfn (as `pfn_to_page` indexes
 * `mem_map`): a page costs no buffer of its own.
 */

import { ViewArena } from '../arena.js';
import { HmmlabError, hex } from '../errors.js';
import { hbAcquire, hbRelease, SyncClock } from '../sched/happens-before.js';
import type { OwnedLock, Scheduler, Task } from '../sched/scheduler.js';
import type { Trace } from '../trace.js';
import type { ModelFile } from './file.js';
import type { Mm } from './mm.js';

/** What memory a page belongs to. */
export type PageKind = 'system' | 'zero' | 'device-private' | 'device-coherent';

/**
 * The owner side of a ZONE_DEVICE page: the parts of `struct dev_pagemap` the mm core reads.
 * Created by `memremapPages`.
 */
export interface PagemapRef {
  /** `MEMORY_DEVICE_PRIVATE` or `MEMORY_DEVICE_COHERENT`, by name. */
  readonly type: 'private' | 'coherent';
  /** Opaque owner the driver gave `memremapPages`. */
  readonly owner: unknown;
  /** Name for traces. */
  readonly name: string;
  /** @internal Called when a device page's refcount drops to zero. */
  freePage(page: Page): void;
}

/**
 * The reverse map's entries after a page's first (a page mapped in more than one place: after
 * fork, or a file page mapped by several processes), in the order they were added.
 */
class RmapMore {
  readonly mms: Mm[] = [];
  readonly vas: number[] = [];
}

/** Bits of `Page.flags`, one per boolean property. */
const PG_DIRTY = 1;
const PG_ANON = 2;
const PG_ANON_EXCLUSIVE = 4;
const PG_ISOLATED = 8;
const PG_LAZYFREE = 16;
const PG_FREE = 32;
const PG_HUGETLB = 64;

/** The fields of a page that most pages never set (see `Page.swapSlot` and the others). */
class PageRare {
  swapSlot = 0;
  file: ModelFile | null = null;
  index = 0;
  staleRefs = 0;
  /** The head of the folio this page was split from while `splitOwner` held that folio's lock. */
  splitHead: Page | null = null;
  /** The task that held the folio lock at the split. */
  splitOwner: Task | null = null;
  /** See `Page.lockedFolio`. */
  lockedFolio: Page | null = null;
  /** See `Page.exclusiveOwner`. */
  exclusiveOwner: unknown = undefined;
}

/** A page lock's happens-before clock and wait lists. */
class PageLockWait {
  clock: SyncClock | null = null;
  waiters: Task[] | null = null;
  unlockWaiters: Task[] | null = null;
}

/** A physical page. */
export class Page implements OwnedLock {
  /** Page frame number. */
  readonly pfn: number;
  /** What the page is (system, zero, device-private, device-coherent). */
  kind: PageKind;
  /** `page_ref_count`. */
  refcount = 0;
  /** `page_mapcount`: number of CPU page-table entries that map it (present or swap-type). */
  mapcount = 0;
  /** GUP pins (`FOLL_PIN`), also counted in `refcount`. */
  pins = 0;
  /** ZONE_DEVICE pagemap, for device pages. */
  pgmap: PagemapRef | null = null;
  /** `page->zone_device_data`: the driver's own pointer. */
  zoneDeviceData: unknown = null;
  /** @internal The slab that holds the contents (see {@link PageAllocator}). */
  readonly slab: Int32Array;
  /** @internal Where the contents start in {@link Page.slab}. */
  readonly wordOffset: number;
  /** @internal Where the contents end in {@link Page.slab}. */
  readonly wordEnd: number;
  private wordsView: Int32Array | null = null;
  /**
   * @internal The reverse map's first entry (the mm, null when the page has none, and its
   * address), kept in the page itself: most pages have at most one, and the two arrays a page had
   * were a tenth of what a round of faults, mprotect and munmap allocated. The entries after it are
   * in {@link Page.rmapMore}.
   */
  rmapMm0: Mm | null = null;
  /** @internal See {@link Page.rmapMm0}. */
  rmapVa0 = 0;
  /** @internal The entries after the first, created at the page's second. */
  private rmapMore: RmapMore | null = null;
  /** Incremented on every allocation, so a stale reference to a reused page can be recognised. */
  generation = 0;
  /**
   * `folio_order` of the folio this page heads: 0 for a base page, 9 for a PMD-sized THP or
   * hugetlb folio (`HPAGE_PMD_ORDER`). Only the head carries it.
   */
  order = 0;
  /** The head page of the large folio this page is a tail of (`compound_head`), or null. */
  head: Page | null = null;
  /** @internal Page lock holder and waiters. */
  lockOwner: Task | null = null;
  /** @internal The hold of the page lock in its holder's list of held locks (-1: unlocked). */
  heldSeq = -1;
  /** @internal The page locks its holder took before and after this one (see `HeldLocks`). */
  heldPrev: Page | null = null;
  /** @internal See {@link Page.heldPrev}. */
  heldNext: Page | null = null;
  /** The fields most pages never set (swap, page cache, stale references), created on first use. */
  private rare: PageRare | null = null;
  /** The page lock's clock and wait lists, created on first use (most pages never wait). */
  private lockWait: PageLockWait | null = null;

  /**
   * Reverse map: the number of entries that refer to the page, the mappings counted in `mapcount`
   * and migration entries (which the kernel finds through the anon_vma). {@link Page.rmapMmAt}
   * and {@link Page.rmapVaAt} give entry `i`, in the order the entries were added.
   */
  get rmapCount(): number {
    return this.rmapMm0 === null ? 0 : this.rmapMore === null ? 1 : 1 + this.rmapMore.mms.length;
  }

  /** The mm of reverse-map entry `i` (`0 <= i < rmapCount`). */
  rmapMmAt(i: number): Mm {
    return (i === 0 ? this.rmapMm0 : (this.rmapMore as RmapMore).mms[i - 1]) as Mm;
  }

  /** The address of reverse-map entry `i` (`0 <= i < rmapCount`). */
  rmapVaAt(i: number): number {
    return i === 0 ? this.rmapVa0 : ((this.rmapMore as RmapMore).vas[i - 1] as number);
  }

  /** The mms of the reverse map's entries, in order: a copy (see {@link Page.rmapCount}). */
  get rmapMm(): readonly Mm[] {
    const out: Mm[] = [];
    for (let i = 0; i < this.rmapCount; i++) out.push(this.rmapMmAt(i));
    return out;
  }

  /** The addresses of the reverse map's entries, index for index with {@link Page.rmapMm}: a copy. */
  get rmapVa(): readonly number[] {
    const out: number[] = [];
    for (let i = 0; i < this.rmapCount; i++) out.push(this.rmapVaAt(i));
    return out;
  }

  /** @internal Appends the entry `(mm, va)` to the reverse map. */
  rmapPush(mm: Mm, va: number): void {
    if (this.rmapMm0 === null) {
      this.rmapMm0 = mm;
      this.rmapVa0 = va;
      return;
    }
    const more = (this.rmapMore ??= new RmapMore());
    more.mms.push(mm);
    more.vas.push(va);
  }

  /** @internal Removes the entry `(mm, va)`, keeping the others' order; false if there is none. */
  rmapDrop(mm: Mm, va: number): boolean {
    const more = this.rmapMore;
    if (this.rmapMm0 === mm && this.rmapVa0 === va) {
      if (more === null) {
        this.rmapMm0 = null;
        this.rmapVa0 = 0;
      } else {
        this.rmapMm0 = more.mms.shift() as Mm;
        this.rmapVa0 = more.vas.shift() as number;
        if (more.mms.length === 0) this.rmapMore = null;
      }
      return true;
    }
    if (more === null) return false;
    for (let i = 0; i < more.mms.length; i++) {
      if (more.mms[i] === mm && more.vas[i] === va) {
        more.mms.splice(i, 1);
        more.vas.splice(i, 1);
        if (more.mms.length === 0) this.rmapMore = null;
        return true;
      }
    }
    return false;
  }

  /** @internal The entry `(mm, va)` now has the address `newVa` (mremap moving it). */
  rmapRetarget(mm: Mm, va: number, newVa: number): void {
    if (this.rmapMm0 === mm && this.rmapVa0 === va) this.rmapVa0 = newVa;
    const more = this.rmapMore;
    if (more !== null) for (let i = 0; i < more.mms.length; i++) if (more.mms[i] === mm && more.vas[i] === va) more.vas[i] = newVa;
  }

  /** Swap slot whose swap cache holds this page (with one reference), or 0. */
  get swapSlot(): number {
    return this.rare === null ? 0 : this.rare.swapSlot;
  }
  /** Sets `swapSlot`. */
  set swapSlot(v: number) {
    if (this.rare !== null) this.rare.swapSlot = v;
    else if (v !== 0) (this.rare = new PageRare()).swapSlot = v;
  }

  /** Page-cache owner (`page->mapping` for file pages). */
  get file(): ModelFile | null {
    return this.rare === null ? null : this.rare.file;
  }
  /** Sets `file`. */
  set file(v: ModelFile | null) {
    if (this.rare !== null) this.rare.file = v;
    else if (v !== null) (this.rare = new PageRare()).file = v;
  }

  /** Offset in the file, in pages (`page->index`). */
  get index(): number {
    return this.rare === null ? 0 : this.rare.index;
  }
  /** Sets `index`. */
  set index(v: number) {
    if (this.rare !== null) this.rare.index = v;
    else if (v !== 0) (this.rare = new PageRare()).index = v;
  }

  /** @internal `get_page` calls made while the page was free, whose `put_page` is still to come. */
  get staleRefs(): number {
    return this.rare === null ? 0 : this.rare.staleRefs;
  }
  /** @internal */
  set staleRefs(v: number) {
    if (this.rare !== null) this.rare.staleRefs = v;
    else if (v !== 0) (this.rare = new PageRare()).staleRefs = v;
  }

  /**
   * @internal The folio whose lock was taken through this tail page, while it is held: the model
   * splits a partly freed THP at once (the kernel defers the split, and never splits a folio under
   * another task's lock), so the unlock must release the folio that was locked, not the page's
   * folio after the split. Kept with the rare fields: only a lock taken through a tail sets it.
   */
  get lockedFolio(): Page | null {
    return this.rare === null ? null : this.rare.lockedFolio;
  }
  /** @internal */
  set lockedFolio(v: Page | null) {
    if (this.rare !== null) this.rare.lockedFolio = v;
    else if (v !== null) (this.rare = new PageRare()).lockedFolio = v;
  }

  /**
   * @internal The owner that last made the page device-exclusive (`make_device_exclusive`): the
   * oracle's test of which device the access belongs to, and the restore's owner in the what-if
   * profiles whose restore carries it; undefined if none ever did.
   */
  get exclusiveOwner(): unknown {
    return this.rare === null ? undefined : this.rare.exclusiveOwner;
  }
  /** @internal */
  set exclusiveOwner(v: unknown) {
    if (this.rare !== null) this.rare.exclusiveOwner = v;
    else if (v !== undefined) (this.rare = new PageRare()).exclusiveOwner = v;
  }

  /** @internal The page lock's clock for happens-before, created on first use while it is tracked. */
  get lockClock(): SyncClock | null {
    return this.lockWait === null ? null : this.lockWait.clock;
  }
  /** @internal */
  set lockClock(v: SyncClock | null) {
    if (this.lockWait !== null) this.lockWait.clock = v;
    else if (v !== null) (this.lockWait = new PageLockWait()).clock = v;
  }

  /** @internal The page's flags (`PG_*` bits, as `page->flags`), behind the boolean properties. */
  private flags = PG_FREE;

  /** `PageDirty`. */
  get dirty(): boolean {
    return (this.flags & PG_DIRTY) !== 0;
  }
  /** Sets `dirty`. */
  set dirty(v: boolean) {
    this.flags = v ? this.flags | PG_DIRTY : this.flags & ~PG_DIRTY;
  }

  /** `PageAnon`. */
  get anon(): boolean {
    return (this.flags & PG_ANON) !== 0;
  }
  /** Sets `anon`. */
  set anon(v: boolean) {
    this.flags = v ? this.flags | PG_ANON : this.flags & ~PG_ANON;
  }

  /** `PageAnonExclusive`: mapped by exactly one process, writable without COW. */
  get anonExclusive(): boolean {
    return (this.flags & PG_ANON_EXCLUSIVE) !== 0;
  }
  /** Sets `anonExclusive`. */
  set anonExclusive(v: boolean) {
    this.flags = v ? this.flags | PG_ANON_EXCLUSIVE : this.flags & ~PG_ANON_EXCLUSIVE;
  }

  /** Isolated from the LRU (by migration). */
  get isolated(): boolean {
    return (this.flags & PG_ISOLATED) !== 0;
  }
  /** Sets `isolated`. */
  set isolated(v: boolean) {
    this.flags = v ? this.flags | PG_ISOLATED : this.flags & ~PG_ISOLATED;
  }

  /** `MADV_FREE` made it lazily freeable: reclaim discards it if it stays clean. */
  get lazyfree(): boolean {
    return (this.flags & PG_LAZYFREE) !== 0;
  }
  /** Sets `lazyfree`. */
  set lazyfree(v: boolean) {
    this.flags = v ? this.flags | PG_LAZYFREE : this.flags & ~PG_LAZYFREE;
  }

  /** True while on the free list (or, for device pages, owned by the driver's allocator). */
  get free(): boolean {
    return (this.flags & PG_FREE) !== 0;
  }
  /** Sets `free`. */
  set free(v: boolean) {
    this.flags = v ? this.flags | PG_FREE : this.flags & ~PG_FREE;
  }

  /** `folio_test_hugetlb`: the folio came from the hugetlb pool. */
  get hugetlb(): boolean {
    return (this.flags & PG_HUGETLB) !== 0;
  }
  /** Sets `hugetlb`. */
  set hugetlb(v: boolean) {
    this.flags = v ? this.flags | PG_HUGETLB : this.flags & ~PG_HUGETLB;
  }

  /** @internal A fresh anonymous page of one mapping: `anon` and `anonExclusive` in one store. */
  markAnonExclusive(): void {
    this.flags |= PG_ANON | PG_ANON_EXCLUSIVE;
  }

  /**
   * @internal The allocator hands the page out: not free, one reference, a new generation, and no
   * stale `get_page` left from its free time.
   */
  clearOnAlloc(): void {
    this.flags &= ~PG_FREE;
    this.refcount = 1;
    this.generation++;
    if (this.rare !== null) this.rare.staleRefs = 0;
  }

  /**
   * @internal The page goes back to its allocator: `free`, and not dirty, anon, anon-exclusive,
   * isolated or lazyfree (one store of the flags), with no swap slot and no page-cache owner.
   */
  clearOnFree(): void {
    this.flags = (this.flags & PG_HUGETLB) | PG_FREE;
    const r = this.rare;
    if (r !== null) {
      r.swapSlot = 0;
      r.file = null;
      r.index = 0;
    }
  }

  /** @internal Tasks waiting for the page lock, created on first use (most pages never wait). */
  get lockWaiters(): Task[] {
    this.lockWait ??= new PageLockWait();
    this.lockWait.waiters ??= [];
    return this.lockWait.waiters;
  }

  /** @internal Tasks waiting for the page to be unlocked without taking the lock (`folio_wait_locked`). */
  get unlockWaiters(): Task[] {
    this.lockWait ??= new PageLockWait();
    this.lockWait.unlockWaiters ??= [];
    return this.lockWait.unlockWaiters;
  }

  /** @internal Pages are created by the {@link PageAllocator}, whose slab holds their contents. */
  constructor(pfn: number, kind: PageKind, slab: Int32Array, wordOffset: number, wordsPerPage: number) {
    this.pfn = pfn;
    this.kind = kind;
    this.slab = slab;
    this.wordOffset = wordOffset;
    this.wordEnd = wordOffset + wordsPerPage;
  }

  /** Contents: a view of the page's words in its slab (the same view each time). */
  get words(): Int32Array {
    this.wordsView ??= this.slab.subarray(this.wordOffset, this.wordEnd);
    return this.wordsView;
  }

  /** @internal Whether some task waits for the page lock (without creating the list). */
  get hasLockWaiters(): boolean {
    const w = this.lockWait === null ? null : this.lockWait.waiters;
    return w !== null && w.length > 0;
  }

  /** @internal Whether some task waits for the page to be unlocked (without creating the list). */
  get hasUnlockWaiters(): boolean {
    const w = this.lockWait === null ? null : this.lockWait.unlockWaiters;
    return w !== null && w.length > 0;
  }

  /** The page lock's name, for traces and deadlock reports. */
  get name(): string {
    return `page lock of pfn ${this.pfn}`;
  }

  holders(): readonly Task[] {
    return this.lockOwner === null ? [] : [this.lockOwner];
  }

  /** `PageLocked`: the lock of the page's folio (a tail page is locked through its head). */
  get locked(): boolean {
    return this.lockFolio().lockOwner !== null;
  }

  /**
   * @internal The page whose lock stands for this page's: its folio's head, or, for a page of a
   * folio the model split while a task held the folio's lock, that folio's head for as long as the
   * same task holds it. The kernel never splits a folio under another task's lock (a partly
   * unmapped THP waits on the deferred split queue, and the splitter trylocks it); the model splits
   * it when a page of it is freed, so the pages keep contending for the lock they were under.
   */
  lockFolio(): Page {
    const r = this.rare;
    if (r !== null && r.splitHead !== null) {
      if (r.splitHead.lockOwner === r.splitOwner) return r.splitHead;
      r.splitHead = null;
      r.splitOwner = null;
    }
    return this.head ?? this;
  }

  /** @internal Forgets the folio lock the page was split under: the page is freed, its own from now on. */
  clearSplitLock(): void {
    const r = this.rare;
    if (r !== null) {
      r.splitHead = null;
      r.splitOwner = null;
    }
  }

  /** @internal Records that the page was split from `head`'s folio while `owner` held its lock. */
  splitUnderLock(head: Page, owner: Task): void {
    const r = this.rare ?? (this.rare = new PageRare());
    r.splitHead = head;
    r.splitOwner = owner;
  }

  /** `page_folio`: the head page of the page's folio (the page itself for a base page). */
  get folio(): Page {
    return this.head ?? this;
  }

  /** `folio_test_large` of the page's folio. */
  get large(): boolean {
    return this.head !== null || this.order > 0;
  }

  /** `is_device_private_page`. */
  get isDevicePrivate(): boolean {
    return this.kind === 'device-private';
  }

  /** `is_device_coherent_page`. */
  get isDeviceCoherent(): boolean {
    return this.kind === 'device-coherent';
  }

  /** `is_zone_device_page`. */
  get isZoneDevice(): boolean {
    return this.kind === 'device-private' || this.kind === 'device-coherent';
  }

  /** `is_zero_pfn`. */
  get isZero(): boolean {
    return this.kind === 'zero';
  }

  toString(): string {
    return `pfn ${this.pfn} (${this.kind})`;
  }
}

/** Words per full-sized contents slab: 256 KiB (or 4 pages when pages are larger). */
const SLAB_WORDS = 65536;
/**
 * Words of the first contents slab (at least 4 pages). A slab past 64 bytes is a buffer of its own
 * outside the JavaScript heap, each costing about a microsecond to make: with one-word pages, a
 * first slab of 4 pages made a 257-page run allocate 8 slabs, not 2.
 */
const FIRST_SLAB_WORDS = 256;

/** Slabs of up to 1,024 words (4 KiB) are carved from shared arenas (see arena.ts). */
const ARENA_SLAB_WORDS = 1024;
const slabArena = new ViewArena(4, (buffer, offset, length) => new Int32Array(buffer, offset, length));

/** A zeroed contents slab of `words` words: carved from an arena when small. */
function newSlab(words: number): Int32Array {
  return words > ARENA_SLAB_WORDS ? new Int32Array(words) : slabArena.carve(words);
}

/**
 * The pfn table is in chunks of `2^PFN_CHUNK_SHIFT` struct pages, each made when its first struct
 * page is: a device memory's pfns are reserved whole, but a chunk of them costs nothing until a page
 * of it is used.
 */
const PFN_CHUNK_SHIFT = 10;
const PFN_CHUNK_MASK = (1 << PFN_CHUNK_SHIFT) - 1;

/** Copies the contents of `src` into `dst`: a block move within a slab, else a word loop or a block copy. */
function copyWords(dst: Page, src: Page): void {
  const n = src.wordEnd - src.wordOffset;
  if (dst.slab === src.slab) {
    dst.slab.copyWithin(dst.wordOffset, src.wordOffset, src.wordEnd);
  } else if (n <= 16) {
    // Small pages: a loop is cheaper than the view a block copy needs.
    const d = dst.slab;
    const s = src.slab;
    for (let j = 0; j < n; j++) d[dst.wordOffset + j] = s[src.wordOffset + j] as number;
  } else {
    dst.slab.set(src.slab.subarray(src.wordOffset, src.wordEnd), dst.wordOffset);
  }
}

/** Options of a page allocation. */
export interface AllocOptions {
  /** Clear the contents (`__GFP_ZERO`). @defaultValue true */
  zero?: boolean;
}

/**
 * The page allocator and the `pfn_to_page` table. Freed system pages go to a LIFO free list, so a
 * freed page is the next one handed out, as a hot page would be: a device that still maps a
 * freed page then sees somebody else's data, which is what the oracle looks for.
 */
export class PageAllocator {
  /** 32-bit words of contents per page. */
  readonly wordsPerPage: number;
  /** The shared zero page (`ZERO_PAGE(0)`). */
  readonly zeroPage: Page;
  /** The huge zero page's head, once a read fault has mapped it ({@link PageAllocator.hugeZeroPage}). */
  private hugeZero: Page | null = null;
  /** Pages per full-sized contents slab (a power of two). */
  private readonly pagesPerSlab: number;
  /** Number of the slabs below {@link PageAllocator.pagesPerSlab}, which double in size. */
  private readonly smallSlabs: number;
  /** Pages of the first contents slab: a power of two, {@link FIRST_SLAB_WORDS} or 4 pages. */
  private readonly firstSlabPages: number;
  /** The contents slabs, each created when its first page is (see {@link PageAllocator.newPage}). */
  private readonly slabs: Int32Array[] = [];
  /** The `pfn_to_page` table, by chunk (see {@link PFN_CHUNK_SHIFT}); pfn 0 is never used. */
  private readonly chunks: ((Page | undefined)[] | undefined)[] = [];
  /** The next pfn to create: system pages take it one by one, a device memory a range of them. */
  private nextPfn = 1;
  private readonly freeList: Page[] = [];
  private readonly deviceRanges: { start: number; n: number; kind: 'device-private' | 'device-coherent'; pgmap: PagemapRef }[] = [];
  private readonly sched: Scheduler;
  private readonly trace: Trace;
  /** Number of system pages currently allocated. */
  allocated = 0;
  /**
   * @internal The hugetlb pool's counts (`Kernel.hugetlb`): a freed hugetlb folio goes back to it.
   * A plain record, not a callback into the kernel, so the allocator holds no closure.
   */
  readonly hugetlb: { total: number; free: number; reserved: number } = { total: 0, free: 0, reserved: 0 };

  constructor(sched: Scheduler, trace: Trace, wordsPerPage: number) {
    this.sched = sched;
    this.trace = trace;
    this.wordsPerPage = wordsPerPage;
    this.pagesPerSlab = Math.max(4, 2 ** Math.floor(Math.log2(Math.max(1, SLAB_WORDS / wordsPerPage))));
    this.firstSlabPages = Math.min(
      this.pagesPerSlab,
      Math.max(4, 2 ** Math.floor(Math.log2(Math.max(1, FIRST_SLAB_WORDS / wordsPerPage)))),
    );
    this.smallSlabs = Math.log2(this.pagesPerSlab / this.firstSlabPages) + 1;
    this.zeroPage = this.newPage(this.nextPfn++, 'zero');
    this.zeroPage.free = false;
    this.zeroPage.refcount = 1;
    this.store(this.zeroPage);
  }

  /**
   * The huge zero page (mm/huge_memory.c, `mm_get_huge_zero_page` → `get_huge_zero_page`): a
   * zeroed folio of `2^order` pages that a read fault of an untouched PMD-sized range maps whole
   * (`set_huge_zero_page`). Allocated on first use, as the kernel does, and then kept: the
   * kernel's shrinker frees it only once no mm maps it. Its pages are zero pages (`isZero`) at
   * consecutive pfns, as `hmm_vma_handle_pmd` reports them (`pmd_pfn(pmd)` plus the offset), but
   * `is_zero_pfn` holds only for {@link PageAllocator.zeroPage}.
   */
  hugeZeroPage(order: number): Page {
    if (this.hugeZero !== null) return this.hugeZero;
    const n = 2 ** order;
    // Aligned to its size, as any block of the buddy allocator (see allocFolio).
    this.nextPfn = Math.ceil(this.nextPfn / n) * n;
    let head: Page | null = null;
    for (let i = 0; i < n; i++) {
      const p = this.newPage(this.nextPfn++, 'zero');
      p.free = false;
      p.refcount = 1;
      this.store(p);
      if (head === null) {
        head = p;
        p.order = order;
      } else {
        p.head = head;
      }
    }
    this.hugeZero = head;
    return head as Page;
  }

  /** True for the pfn of the zero page or of a page of the huge zero page (a zero page either way). */
  isAnyZeroPfn(pfn: number): boolean {
    if (pfn === this.zeroPage.pfn) return true;
    const h = this.hugeZero;
    return h !== null && pfn >= h.pfn && pfn < h.pfn + 2 ** h.order;
  }

  /** The struct page of `pfn` if it exists. */
  private slot(pfn: number): Page | undefined {
    const c = this.chunks[pfn >> PFN_CHUNK_SHIFT];
    return c === undefined ? undefined : c[pfn & PFN_CHUNK_MASK];
  }

  /** Enters `p` in the table, making its chunk if needed. */
  private store(p: Page): void {
    const i = p.pfn >> PFN_CHUNK_SHIFT;
    // The chunks of a reserved range stay undefined, but present: a far index would turn the array into a dictionary.
    while (this.chunks.length < i) this.chunks.push(undefined);
    let c = this.chunks[i];
    if (c === undefined) {
      // Grown as its pages are made (an index below 1024 past the end keeps the array's fast
      // elements): a kernel that makes few pages does not pay for 1024 slots.
      c = [];
      this.chunks[i] = c;
    }
    c[p.pfn & PFN_CHUNK_MASK] = p;
  }

  /**
   * The struct pages that exist in `[pfn, pfn + n)`, in pfn order: of a device memory, the pages
   * used so far (see {@link PageAllocator.peek}). Costs what the range's used chunks cost, not its
   * length.
   */
  peekRange(pfn: number, n: number): Page[] {
    const out: Page[] = [];
    const end = pfn + n;
    let at = Math.max(pfn, 0);
    while (at < end) {
      const c = this.chunks[at >> PFN_CHUNK_SHIFT];
      const chunkEnd = Math.min(end, ((at >> PFN_CHUNK_SHIFT) + 1) << PFN_CHUNK_SHIFT);
      if (c !== undefined) {
        for (let q = at; q < chunkEnd; q++) {
          const p = c[q & PFN_CHUNK_MASK];
          if (p !== undefined) out.push(p);
        }
      }
      at = chunkEnd;
    }
    return out;
  }

  /**
   * The struct page of `pfn`, its contents in the slab of its pfn. The first slabs double in size
   * (`f` pages, `f`, `2f`, `4f`, … up to {@link PageAllocator.pagesPerSlab}, `f` the
   * {@link PageAllocator.firstSlabPages}), so a small run allocates little; every later slab is
   * full-sized.
   */
  private newPage(pfn: number, kind: PageKind): Page {
    const full = this.pagesPerSlab;
    const first = this.firstSlabPages;
    let index: number;
    let start: number;
    let size: number;
    if (pfn < first) {
      index = 0;
      start = 0;
      size = first;
    } else if (pfn < full) {
      // Integer arithmetic: `2 ** n` is a float power, and it made this the costliest line of a
      // page's creation (pagesPerSlab < 2^31, so the shifts do not overflow).
      index = 32 - Math.clz32((pfn / first) | 0);
      start = first << (index - 1);
      size = start;
    } else {
      const j = Math.floor((pfn - full) / full);
      index = this.smallSlabs + j;
      start = full + j * full;
      size = full;
    }
    const wpp = this.wordsPerPage;
    const slab = (this.slabs[index] ??= newSlab(size * wpp));
    return new Page(pfn, kind, slab, (pfn - start) * wpp, wpp);
  }

  /** `pfn_to_page`; undefined for a pfn that was never created. */
  pfnToPage(pfn: number): Page | undefined {
    return this.slot(pfn) ?? this.materialize(pfn);
  }

  /** The page of `pfn` if its struct page exists already (device pages are created on first use). */
  peek(pfn: number): Page | undefined {
    return this.slot(pfn);
  }

  /** Creates the struct page of a reserved device pfn on first use. */
  private materialize(pfn: number): Page | undefined {
    for (const r of this.deviceRanges) {
      if (pfn < r.start || pfn >= r.start + r.n) continue;
      const p = this.newPage(pfn, r.kind);
      p.pgmap = r.pgmap;
      this.store(p);
      return p;
    }
    return undefined;
  }

  /** Like {@link PageAllocator.pfnToPage}, but throws for an unknown pfn. */
  page(pfn: number): Page {
    const p = this.slot(pfn) ?? this.materialize(pfn);
    if (p === undefined) {
      throw new HmmlabError('ERR_BAD_ARGUMENT', `pfn_to_page: pfn ${pfn} does not exist in this model`);
    }
    return p;
  }

  /** Number of pfns created so far (system and device). */
  get pfnCount(): number {
    return this.nextPfn;
  }

  /** `alloc_page`: a system page with refcount 1. */
  allocPage(options: AllocOptions = {}): Page {
    let p = this.freeList.pop();
    // A new page's words are zero already: its slab was zeroed when created and held no page there.
    let zeroed = false;
    if (p === undefined) {
      p = this.newPage(this.nextPfn++, 'system');
      this.store(p);
      zeroed = true;
    }
    p.clearOnAlloc();
    if (!zeroed && (options.zero ?? true)) p.slab.fill(0, p.wordOffset, p.wordEnd);
    this.allocated++;
    if (this.trace.on) this.traceAlloc(p);
    return p;
  }

  /** The `page-alloc` event of a system page (apart, so that the allocation path stays small to inline). */
  private traceAlloc(p: Page): void {
    this.trace.allocEvent(p.pfn, 'system');
  }

  /**
   * `folio_alloc(order)`: `2^order` pages with consecutive pfns, each with refcount 1 (the model
   * counts references and mappings per page, where the kernel keeps them on the folio), the first
   * the head. A large folio never comes from the free list, which holds single pages.
   */
  allocFolio(order: number): Page {
    const n = 2 ** order;
    // The buddy allocator hands out a block of 2^order pages aligned to its size (mm/page_alloc.c,
    // __rmqueue_smallest): a PMD-sized folio starts on a 2 MiB boundary, as a device's huge entry
    // needs. The pfns skipped to get there are never made.
    this.nextPfn = Math.ceil(this.nextPfn / n) * n;
    let head: Page | null = null;
    for (let i = 0; i < n; i++) {
      const p = this.newPage(this.nextPfn++, 'system');
      this.store(p);
      p.clearOnAlloc();
      if (head === null) {
        head = p;
        p.order = order;
      } else {
        p.head = head;
      }
      this.allocated++;
      if (this.trace.on) this.trace.allocEvent(p.pfn, 'system');
    }
    return head as Page;
  }

  /**
   * `prep_compound_page`: the `2^order` pages from `head` become one folio headed by `head` (the
   * caller checked they are consecutive, allocated and not part of another folio).
   */
  prepCompound(head: Page, order: number): void {
    const n = 2 ** order;
    head.order = order;
    for (let i = 1; i < n; i++) (this.slot(head.pfn + i) as Page).head = head;
  }

  /**
   * `split_folio`: the pages of a large folio become base pages. The folio must not be locked
   * by anybody but the caller (whose lock, if any, stays on the head). With `keepLock` (the model's
   * split of a partly freed folio, which the kernel defers), a lock another task holds on the
   * folio goes on covering every page of it until that task unlocks (`Page.lockFolio`).
   */
  splitFolio(head: Page, keepLock = false): void {
    if (head.order === 0) return;
    if (this.trace.on) this.trace.emit({ type: 'folio-split', pfn: head.pfn, order: head.order });
    const n = 2 ** head.order;
    // The holder itself freeing a page of its folio splits as the kernel's splitter does: its
    // lock stays on the head alone.
    const owner = keepLock && head.lockOwner !== this.sched.current ? head.lockOwner : null;
    for (let i = 1; i < n; i++) {
      const p = this.slot(head.pfn + i);
      if (p !== undefined && p.head === head) {
        p.head = null;
        if (owner !== null) p.splitUnderLock(head, owner);
      }
    }
    head.order = 0;
    head.hugetlb = false;
  }

  /**
   * @internal Reserves `n` pfns for the device pages of a pagemap, free (refcount 0) and owned by
   * the driver; returns the first. Their struct pages are created on first use, so a large device
   * memory costs what a run touches of it.
   */
  reserveDevicePages(n: number, kind: 'device-private' | 'device-coherent', pgmap: PagemapRef): number {
    const start = this.nextPfn;
    this.nextPfn += n;
    this.deviceRanges.push({ start, n, kind, pgmap });
    return start;
  }

  /** @internal Marks a device page allocated by its driver (`zone_device_page_init`). */
  initDevicePage(p: Page): void {
    p.clearOnAlloc();
    if (this.trace.on) this.trace.allocEvent(p.pfn, p.kind);
  }

  /**
   * `get_page`. On a free page (a pfn kept across its free) the kernel checks only with
   * `VM_BUG_ON_FOLIO` in `folio_get` (include/linux/mm.h, debug kernels); otherwise the reference
   * revives a page the allocator still holds. That is a driver's contract breach, not a model
   * error: the model takes no reference, emits a `warn` `get-free-page` for the oracle, and lets
   * the matching `put_page` go by while the page stays free. `by` names the kernel path that takes
   * the reference when it is not the driver's own `get_page` (a migration mapping its destination).
   */
  getPage(p: Page, by?: string): void {
    if (p.free) {
      p.staleRefs++;
      if (this.trace.on) {
        const detail = by === undefined ? `get_page of pfn ${p.pfn}, which is free` : `${by} pfn ${p.pfn}, which is free`;
        this.trace.emit({ type: 'warn', what: 'get-free-page', detail });
      }
      return;
    }
    p.refcount++;
  }

  /** `get_page_unless_zero` / `folio_try_get`. */
  tryGetPage(p: Page): boolean {
    if (p.free || p.refcount === 0) return false;
    p.refcount++;
    return true;
  }

  /**
   * `set_page_dirty` (`folio_mark_dirty` of its folio): the page holds data that memory does not
   * have elsewhere. A driver whose device wrote a system page through its own translation calls it
   * when it revokes that translation, as `ib_umem_odp_unmap_dma_pages` does
   * (drivers/infiniband/core/umem_odp.c): a device's write leaves the CPU entry clean, and reclaim
   * discards a clean page that `MADV_FREE` made lazily freeable (mm/rmap.c, `try_to_unmap_one`,
   * "MADV_FREE page check"), the device's data with it. Marks the page and its folio's head.
   */
  setPageDirty(p: Page): void {
    p.dirty = true;
    const head = p.folio;
    if (head !== p) head.dirty = true;
  }

  /** `put_page`: frees the page when the last reference goes. */
  putPage(p: Page): void {
    if (p.kind === 'zero') return;
    if (p.free && p.staleRefs > 0) {
      p.staleRefs--;
      return;
    }
    if (p.refcount <= 0) {
      throw new HmmlabError('ERR_STATE', `put_page: ${String(p)} has refcount ${p.refcount}; every put_page needs a matching get_page`);
    }
    if (--p.refcount === 0) this.free(p);
  }

  private free(p: Page): void {
    // A large folio whose page is freed is split first: the kernel frees a folio whole, and a
    // partly unmapped THP goes to the deferred split queue; the model splits it at once.
    if (p.large) {
      if (p.folio.hugetlb) this.hugetlb.free++;
      this.splitFolio(p.folio, true);
    }
    // A freed page is reused as a page of its own: the lock of the folio it was split from no
    // longer covers it.
    p.clearSplitLock();
    if (p.mapcount !== 0) {
      if (this.trace.on) {
        this.trace.emit({ type: 'warn', what: 'bad-page', detail: `${String(p)} freed with mapcount ${p.mapcount}` });
      }
    }
    p.clearOnFree();
    p.zoneDeviceData = p.isZoneDevice ? p.zoneDeviceData : null;
    if (this.trace.on) this.trace.emit({ type: 'page-free', pfn: p.pfn });
    if (p.pgmap !== null) {
      p.pgmap.freePage(p);
      return;
    }
    this.allocated--;
    this.freeList.push(p);
  }

  /** Copies the contents of `src` into `dst`: the one primitive every page copy goes through. */
  copyPage(dst: Page, src: Page, by: string): void {
    copyWords(dst, src);
    if (this.trace.on) this.trace.emit({ type: 'page-copy', src: src.pfn, dst: dst.pfn, by });
  }

  /** `lock_page`: may sleep until the page lock is free. */
  async lockPage(page: Page): Promise<void> {
    const s = this.sched;
    s.mightSleep(`lock_page(${page.folio.pfn})`);
    await s.yield();
    const p = page.lockFolio();
    const t = s.current;
    if (p.lockOwner !== null) {
      p.lockWaiters.push(t);
      await s.park('blocked', p);
      // unlockPage() handed the lock over to us and recorded it as held.
    } else {
      p.lockOwner = t;
      t.held.addOwned(p);
    }
    page.lockedFolio = p === page ? null : p;
    if (s.hb) hbAcquire(s, (p.lockClock ??= new SyncClock()));
  }

  /** `trylock_page`. */
  trylockPage(page: Page): boolean {
    const p = page.lockFolio();
    if (p.lockOwner !== null) return false;
    p.lockOwner = this.sched.current;
    this.sched.current.held.addOwned(p);
    page.lockedFolio = p === page ? null : p;
    if (this.sched.hb) hbAcquire(this.sched, (p.lockClock ??= new SyncClock()));
    return true;
  }

  /**
   * `unlock_page`. Unlike a mutex the kernel does not tie a page lock to a task, so any task may
   * unlock it; unlocking an unlocked page is a bug.
   */
  unlockPage(page: Page): void {
    const p = page.lockedFolio ?? page.lockFolio();
    page.lockedFolio = null;
    const holder = p.lockOwner;
    if (holder === null) {
      throw new HmmlabError('ERR_NOT_LOCKED', `unlock_page: ${String(p)} at ${hex(p.pfn)} is not locked`);
    }
    holder.held.removeOwned(p);
    if (this.sched.hb) hbRelease(this.sched, (p.lockClock ??= new SyncClock()));
    // Most pages never had a waiter: look without creating the lists.
    const next = p.hasLockWaiters ? p.lockWaiters.shift() : undefined;
    p.lockOwner = next ?? null;
    if (next !== undefined) {
      next.held.addOwned(p);
      this.sched.wake(next);
      return;
    }
    // wake_up_page: the page is unlocked; those that only waited for that go on.
    if (!p.hasUnlockWaiters) return;
    const waiters = p.unlockWaiters;
    for (const t of waiters) this.sched.wake(t);
    waiters.length = 0;
  }

  /**
   * `folio_wait_locked`: sleeps until the page is unlocked, without taking the lock (so a page
   * freed meanwhile is never left locked by a waiter).
   */
  async waitOnPageLocked(page: Page): Promise<void> {
    const p = page.lockFolio();
    const s = this.sched;
    while (p.lockOwner !== null) {
      s.mightSleep(`wait_on_page_locked(${p.pfn})`);
      p.unlockWaiters.push(s.current);
      await s.park('blocked', p);
    }
    if (s.hb && p.lockClock !== null) hbAcquire(s, p.lockClock);
  }
}
