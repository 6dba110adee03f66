/**
 * drm_gpusvm (drivers/gpu/drm/drm_gpusvm.c): the GPU-SVM helper layer xe builds on. Notifiers
 * each cover an aligned chunk of the address space and hold the ranges the GPU binds; one
 * `notifier_lock` (an rw_semaphore) is taken for writing by the invalidation and for reading by
 * whoever checks that a range's pages are still valid before using them.
 */
import {
  EAGAIN,
  EBUSY,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToPage,
  hmmRangeFault,
  type Kernel,
  type Mm,
  MmuIntervalNotifier,
  type MmuNotifierRange,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  type Page,
  type RwSemaphore,
} from '@hmmlab/core';
import { type Device, HMM_RANGE_DEFAULT_TIMEOUT, SharedCell } from '@hmmlab/harness';

/** Pages covered by one notifier (`notifier_size`). */
export const GPUSVM_NOTIFIER_PAGES = 16;
/** Range sizes tried, largest first (`chunk_sizes`). */
const GPUSVM_CHUNK_PAGES = [4, 1] as const;

/** `struct drm_gpusvm_range`, with the fields `struct xe_svm_range` adds. */
export class DrmGpusvmRange {
  readonly notifier: DrmGpusvmNotifier;
  readonly start: number;
  readonly end: number;
  /** Pages from the last `get_pages`, and whether each may be written. */
  pages: (Page | null)[] = [];
  writable: boolean[] = [];
  /** System pages DMA-mapped for the GPU (`dma_addr`). */
  dmaMapped: Page[] = [];
  /**
   * The flags the notifier callback and the fault path share, each a `SharedCell` so that the
   * oracle sees which task touches them under which lock: `flags.has_dma_mapping`,
   * `flags.has_devmem_pages` (the pages are valid; cleared by the notifier), `flags.unmapped` (the
   * CPU unmapped it; the garbage collector removes it), and xe_svm_range's `tile_present` /
   * `tile_invalidated` bits, changed only under the notifier lock (with WRITE_ONCE).
   */
  private readonly shared: {
    readonly hasDmaMapping: SharedCell<boolean>;
    readonly hasDevmemPages: SharedCell<boolean>;
    readonly unmapped: SharedCell<boolean>;
    readonly tilePresent: SharedCell<number>;
    readonly tileInvalidated: SharedCell<number>;
  };

  constructor(notifier: DrmGpusvmNotifier, start: number, end: number) {
    this.notifier = notifier;
    this.start = start;
    this.end = end;
    const k = notifier.gpusvm.kernel;
    const name = `gpusvm range 0x${start.toString(16)}`;
    // The fault path's advisory "already bound and valid?" check reads them without the lock:
    // the range flags are written with WRITE_ONCE and read with READ_ONCE (drm_gpusvm.c, and
    // xe_svm.h: xe_svm_range_in_vram). The binding decision is made again under the lock.
    const atomic = { atomic: true };
    // The tile bits are written with WRITE_ONCE under the notifier lock and read plainly by the
    // other holders of it (xe_pt.c: xe_pt_zap_ptes_range; xe_svm.c:
    // xe_svm_range_notifier_event_begin), with READ_ONCE only by the lockless check (xe_vm.h:
    // xe_vm_has_valid_gpu_mapping): each access is marked as xe marks it.
    this.shared = {
      hasDmaMapping: new SharedCell(k, `${name} has_dma_mapping`, false, atomic),
      hasDevmemPages: new SharedCell(k, `${name} has_devmem_pages`, false, atomic),
      unmapped: new SharedCell(k, `${name} unmapped`, false, atomic),
      tilePresent: new SharedCell(k, `${name} tile_present`, 0),
      tileInvalidated: new SharedCell(k, `${name} tile_invalidated`, 0),
    };
  }

  get hasDmaMapping(): boolean {
    return this.shared.hasDmaMapping.get();
  }
  set hasDmaMapping(v: boolean) {
    this.shared.hasDmaMapping.set(v);
  }
  get hasDevmemPages(): boolean {
    return this.shared.hasDevmemPages.get();
  }
  set hasDevmemPages(v: boolean) {
    this.shared.hasDevmemPages.set(v);
  }
  get unmapped(): boolean {
    return this.shared.unmapped.get();
  }
  set unmapped(v: boolean) {
    this.shared.unmapped.set(v);
  }
  /** `tile_present`: a plain read, for holders of the notifier lock; set with WRITE_ONCE. */
  get tilePresent(): number {
    return this.shared.tilePresent.get();
  }
  set tilePresent(v: number) {
    this.shared.tilePresent.writeOnce(v);
  }
  /** `tile_invalidated`: a plain read, for holders of the notifier lock; set with WRITE_ONCE. */
  get tileInvalidated(): number {
    return this.shared.tileInvalidated.get();
  }
  set tileInvalidated(v: number) {
    this.shared.tileInvalidated.writeOnce(v);
  }

  /**
   * `xe_vm_has_valid_gpu_mapping`: bound on `tile` and not invalidated since, read without the
   * notifier lock (READ_ONCE of both masks): a hint, which a bind confirms under the lock.
   */
  validOnTile(tile: number): boolean {
    return (this.shared.tilePresent.readOnce() & ~this.shared.tileInvalidated.readOnce() & (1 << tile)) !== 0;
  }

  /** `drm_gpusvm_range_pages_valid`; call with the notifier lock held. */
  get pagesValid(): boolean {
    return this.hasDmaMapping || this.hasDevmemPages;
  }
}

/** `struct drm_gpusvm_notifier`: an interval notifier over `[start, end)` and its ranges. */
export class DrmGpusvmNotifier extends MmuIntervalNotifier {
  readonly gpusvm: DrmGpusvm;
  readonly begin: number;
  readonly end: number;
  /**
   * The notifier's ranges (`notifier->root`), a `SharedCell` so that the oracle sees who walks and
   * who changes them: the invalidation walks them under the notifier lock, the fault path under
   * the driver's lock, and they change only under both (drm_gpusvm.c: `__drm_gpusvm_range_insert`
   * and `__drm_gpusvm_range_remove` run with the notifier lock held, after
   * `drm_gpusvm_driver_lock_held`).
   */
  private readonly rangeList: SharedCell<readonly DrmGpusvmRange[]>;

  constructor(gpusvm: DrmGpusvm, begin: number, end: number) {
    super(`gpusvm notifier 0x${begin.toString(16)}`);
    this.gpusvm = gpusvm;
    this.begin = begin;
    this.end = end;
    this.rangeList = new SharedCell(gpusvm.kernel, `${this.name} ranges`, []);
  }

  get ranges(): readonly DrmGpusvmRange[] {
    return this.rangeList.get();
  }
  set ranges(v: readonly DrmGpusvmRange[]) {
    this.rangeList.set(v);
  }
}

/** What the driver plugs into drm_gpusvm (`struct drm_gpusvm_ops`). */
export interface DrmGpusvmOps {
  /** Called with the notifier lock held for writing and the sequence moved: stop the GPU using the range. */
  invalidate(notifier: DrmGpusvmNotifier, mmuRange: MmuNotifierRange): Promise<void>;
}

/** `struct drm_gpusvm`. */
export class DrmGpusvm {
  readonly kernel: Kernel;
  readonly mm: Mm;
  /** The device that DMA-maps system pages (the GPU's PCI function). */
  readonly dev: Device;
  /** `device_private_page_owner`. */
  readonly owner: unknown;
  readonly notifierLock: RwSemaphore;
  /** The notifiers (`gpusvm->root`): found, inserted and removed under the driver's lock (`drm_gpusvm_driver_lock_held`). */
  private readonly notifierList: SharedCell<readonly DrmGpusvmNotifier[]>;
  readonly ops: DrmGpusvmOps;

  constructor(dev: Device, mm: Mm, owner: unknown, ops: DrmGpusvmOps) {
    this.kernel = dev.kernel;
    this.mm = mm;
    this.dev = dev;
    this.owner = owner;
    this.ops = ops;
    this.notifierLock = this.kernel.rwsem(`gpusvm notifier_lock (mm ${mm.id})`);
    this.notifierList = new SharedCell(this.kernel, `gpusvm notifiers (mm ${mm.id})`, []);
  }

  get notifiers(): readonly DrmGpusvmNotifier[] {
    return this.notifierList.get();
  }
  set notifiers(v: readonly DrmGpusvmNotifier[]) {
    this.notifierList.set(v);
  }

  /** `drm_gpusvm_range_find`: the range of `va` in its notifier, if any. */
  rangeFind(va: number): DrmGpusvmRange | undefined {
    const n = this.notifiers.find((x) => va >= x.begin && va < x.end);
    return n?.ranges.find((r) => va >= r.start && va < r.end);
  }

  /**
   * `drm_gpusvm_range_find_or_insert` for a fault at `va`: the notifier of `va`'s chunk (inserted
   * if missing) and a range inside one VMA, as large as the chunk sizes allow without overlapping
   * another. Returns null when no VMA maps `va`. The caller holds the driver's VM lock and has
   * already removed ranges the CPU unmapped.
   */
  async rangeFindOrInsert(va: number): Promise<DrmGpusvmRange | null> {
    const ps = this.kernel.pageSize;
    const size = GPUSVM_NOTIFIER_PAGES * ps;
    let notifier = this.notifiers.find((x) => va >= x.begin && va < x.end);
    if (notifier === undefined) {
      const begin = va - (va % size);
      notifier = new DrmGpusvmNotifier(this, begin, begin + size);
      if ((await mmuIntervalNotifierInsert(notifier, this.mm, begin, size, { invalidate: drmGpusvmNotifierInvalidate })) !== 0) return null;
      this.notifiers = [...this.notifiers, notifier];
    }
    await this.mm.mmapLock.downRead();
    const vma = this.mm.findVma(va);
    let range: DrmGpusvmRange | null = null;
    if (vma !== undefined) {
      range = notifier.ranges.find((r) => va >= r.start && va < r.end) ?? null;
      for (const chunk of GPUSVM_CHUNK_PAGES) {
        if (range !== null) break;
        const start = va - (va % (chunk * ps));
        const end = start + chunk * ps;
        if (start < vma.start || end > vma.end || start < notifier.begin || end > notifier.end) continue;
        if (notifier.ranges.some((r) => r.start < end && r.end > start)) continue;
        range = new DrmGpusvmRange(notifier, start, end);
        // __drm_gpusvm_range_insert, under the notifier lock the invalidation walks the list with.
        await this.notifierLock.downWrite();
        notifier.ranges = [...notifier.ranges, range];
        this.notifierLock.upWrite();
      }
    }
    this.mm.mmapLock.upRead();
    return range;
  }

  /**
   * `drm_gpusvm_range_get_pages`: `hmm_range_fault` with this GPU's `dev_private_owner`, then under
   * the notifier lock (read), only if the sequence still holds, the pages are taken: own VRAM
   * pages as they are, system pages DMA-mapped. Never touch them after dropping the lock without
   * rechecking `pagesValid` under it (C2). Returns 0, `-EAGAIN` to retry, or `hmm_range_fault`'s errno.
   */
  async rangeGetPages(range: DrmGpusvmRange, write: boolean, owner: unknown = this.owner): Promise<number> {
    const k = this.kernel;
    const n = (range.end - range.start) / k.pageSize;
    const hmm: HmmRange = {
      notifier: range.notifier,
      notifierSeq: 0,
      start: range.start,
      end: range.end,
      hmmPfns: new Array<number>(n).fill(0),
      defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
      pfnFlagsMask: 0,
      devPrivateOwner: owner,
    };
    const timeout = k.jiffies + HMM_RANGE_DEFAULT_TIMEOUT;
    for (;;) {
      hmm.notifierSeq = await mmuIntervalReadBegin(hmm.notifier);
      await this.mm.mmapLock.downRead();
      const r = await hmmRangeFault(hmm);
      this.mm.mmapLock.upRead();
      if (r === -EBUSY) {
        if (k.jiffies > timeout) return -EAGAIN;
        continue;
      }
      if (r !== 0) return r;
      await this.notifierLock.downRead();
      if (mmuIntervalReadRetry(hmm.notifier, hmm.notifierSeq)) {
        this.notifierLock.upRead();
        continue;
      }
      // A system page mapped already keeps its DMA mapping: a tile bound to the range may still
      // reach it through that address (drm_gpusvm unmaps only in the notifier, after the zap, and
      // when the range goes). Only the mappings of pages the range no longer holds go.
      const kept = range.dmaMapped;
      range.dmaMapped = [];
      range.hasDmaMapping = false;
      range.hasDevmemPages = false;
      range.pages = [];
      range.writable = [];
      for (let i = 0; i < n; i++) {
        const e = hmm.hmmPfns[i] as number;
        const page = (e & HMM_PFN_VALID) !== 0 ? hmmPfnToPage(k, e) : null;
        range.pages.push(page);
        range.writable.push((e & HMM_PFN_WRITE) !== 0);
        if (page === null) continue;
        if (page.isDevicePrivate) range.hasDevmemPages = true;
        else {
          const j = kept.indexOf(page);
          if (j >= 0) kept.splice(j, 1);
          else this.dev.dmaMap(page, (e & HMM_PFN_WRITE) !== 0);
          range.dmaMapped.push(page);
          range.hasDmaMapping = true;
        }
      }
      for (const p of kept) this.dev.dmaUnmap(p);
      this.notifierLock.upRead();
      return 0;
    }
  }

  /** `drm_gpusvm_range_unmap_pages` with the notifier lock held: DMA unmap, and the pages are no longer valid. */
  unmapPagesLocked(range: DrmGpusvmRange): void {
    for (const p of range.dmaMapped) this.dev.dmaUnmap(p);
    range.dmaMapped = [];
    range.hasDmaMapping = false;
    range.hasDevmemPages = false;
  }

  /**
   * `drm_gpusvm_range_evict`: `hmm_range_fault` with no `dev_private_owner`, so every VRAM page of
   * the range is faulted back to system memory through its pgmap's `migrate_to_ram`.
   */
  async rangeEvict(range: DrmGpusvmRange): Promise<number> {
    const n = (range.end - range.start) / this.kernel.pageSize;
    const hmm: HmmRange = {
      notifier: range.notifier,
      notifierSeq: 0,
      start: range.start,
      end: range.end,
      hmmPfns: new Array<number>(n).fill(0),
      defaultFlags: HMM_PFN_REQ_FAULT,
      pfnFlagsMask: 0,
      devPrivateOwner: null,
    };
    for (let tries = 0; tries < 16; tries++) {
      hmm.notifierSeq = await mmuIntervalReadBegin(hmm.notifier);
      await this.mm.mmapLock.downRead();
      const r = await hmmRangeFault(hmm);
      this.mm.mmapLock.upRead();
      if (r !== -EBUSY) return r;
    }
    return -EBUSY;
  }
}

/**
 * `drm_gpusvm_notifier_invalidate`: returns false when it may not sleep; otherwise, with the
 * notifier lock held for writing, moves the sequence and lets the driver stop the GPU.
 */
async function drmGpusvmNotifierInvalidate(mni: MmuIntervalNotifier, mmuRange: MmuNotifierRange, curSeq: number): Promise<boolean> {
  if (!mmuNotifierRangeBlockable(mmuRange)) return false;
  const notifier = mni as DrmGpusvmNotifier;
  const gpusvm = notifier.gpusvm;
  await gpusvm.notifierLock.downWrite();
  mmuIntervalSetSeq(mni, curSeq);
  await gpusvm.ops.invalidate(notifier, mmuRange);
  gpusvm.notifierLock.upWrite();
  return true;
}
