/**
 * xe's SVM (drivers/gpu/drm/xe/xe_svm.c) on top of drm_gpusvm: an xe device of two tiles, each
 * with its own GPU page table and TLB, VRAM on tile 0, and the VM that mirrors a process.
 * `xe_svm_invalidate` zaps every range still bound on a tile, waits for the tiles' TLB
 * invalidations, unmaps the pages and hands ranges the CPU unmapped to a garbage collector.
 */
import {
  EAGAIN,
  EFAULT,
  ENOENT,
  EPERM,
  type Kernel,
  MMU_NOTIFY_UNMAP,
  type Mm,
  type MmuNotifierRange,
  type Mutex,
  mmuIntervalNotifierRemove,
  type SpinLock,
  ULONG_MAX,
  Work,
  type Workqueue,
} from '@hmmlab/core';
import { type Binding, Device, type DeviceFault, type DeviceVm, type Fence, SharedCell } from '@hmmlab/harness';
import { DrmGpusvm, type DrmGpusvmNotifier, type DrmGpusvmRange } from './gpusvm.js';
import { drmPagemapEvictToRam, drmPagemapMigrateToDevmem, drmPagemapMigrateToRam } from './migrate.js';

/** VRAM pages of tile 0 handed to drm_pagemap. */
export const XE_VRAM_PAGES = 32;

/** `struct xe_device`: two tiles sharing one pgmap owner (`xe_svm_devm_owner(xe)`). */
export class XeDevice {
  readonly kernel: Kernel;
  readonly tiles: readonly Device[];

  constructor(kernel: Kernel) {
    this.kernel = kernel;
    this.tiles = [0, 1].map(
      (i) =>
        new Device(kernel, {
          name: `xe0.tile${i}`,
          owner: this,
          faultMode: 'replayable',
          atomics: 'write',
          ...(i === 0 ? { memory: { type: 'private' as const, pages: XE_VRAM_PAGES, migrateToRam: drmPagemapMigrateToRam } } : {}),
        }),
    );
  }

  /** `xe_svm_devm_owner(xe)`. */
  get pgmapOwner(): XeDevice {
    return this;
  }
}

/** `struct xe_vm` in fault mode with SVM: the binding the fuzzer drives. */
export class XeVm implements Binding {
  readonly xe: XeDevice;
  readonly kernel: Kernel;
  readonly mm: Mm;
  /** The VM's page table on each tile. */
  readonly vms: readonly DeviceVm[];
  /** `vm->lock`: serializes faults, prefetches and the garbage collector. Order: this, mmap lock, notifier lock. */
  readonly lock: Mutex;
  /**
   * `xe_vm_is_closed`: set by `xe_vm_close` under {@link XeVm.lock} when the file closes, and read
   * under it by `handle_pagefault`, which fails a fault of a closed VM: the GPU raises faults
   * whether or not the file is closing, so only this keeps a fault from binding pages after the
   * teardown.
   */
  private readonly closed: SharedCell<boolean>;
  readonly gpusvm: DrmGpusvm;
  /** `vm->svm.garbage_collector.range_list`, under {@link XeVm.gcLock}. */
  private readonly gcList: SharedCell<readonly DrmGpusvmRange[]>;
  /**
   * `vm->svm.garbage_collector.lock`, a spinlock: the invalidation adds to the list under the
   * notifier lock, the collector takes from it under `vm->lock`, so the list has a lock of its own.
   * Never held across a sleep, so taking it never waits here.
   */
  private readonly gcLock: SpinLock;
  /** The workqueue the garbage collector's work runs on (the next fault also runs it first). */
  readonly wq: Workqueue;
  private readonly gcWork: Work;

  constructor(xe: XeDevice, mm: Mm) {
    this.xe = xe;
    this.kernel = xe.kernel;
    this.mm = mm;
    this.vms = xe.tiles.map((t, i) => t.createVm(mm, { fault: (_vm, f) => this.handlePagefault(i, f) }));
    this.lock = this.kernel.mutex(`xe vm lock (mm ${mm.id})`);
    this.closed = new SharedCell(this.kernel, `xe vm closed (mm ${mm.id})`, false);
    this.gcList = new SharedCell<readonly DrmGpusvmRange[]>(this.kernel, `xe svm garbage collector list (mm ${mm.id})`, []);
    this.gcLock = this.kernel.spinlock(`xe svm garbage collector lock (mm ${mm.id})`);
    this.gpusvm = new DrmGpusvm(xe.tiles[0] as Device, mm, xe.pgmapOwner, { invalidate: (n, r) => this.invalidate(n, r) });
    this.wq = this.kernel.workqueue(`xe_svm gc (mm ${mm.id})`);
    this.gcWork = new Work('xe_svm_garbage_collector_work_func', async () => {
      await this.lock.lock();
      await this.garbageCollector();
      this.lock.unlock();
    });
  }

  /**
   * Zaps `ranges` on every tile they are bound on and waits for the TLB invalidations; with the
   * notifier lock held for writing. A range unmapped, or bound on no tile since its last
   * invalidation, is skipped: `tile_present` only changes under this lock (N4).
   */
  private async zapRangesLocked(ranges: readonly DrmGpusvmRange[], start: number, end: number): Promise<void> {
    let adjStart = start;
    let adjEnd = end;
    let tileMask = 0;
    for (const r of ranges) {
      const live = r.tilePresent & ~r.tileInvalidated;
      if (r.unmapped || live === 0) continue;
      adjStart = Math.min(adjStart, r.start);
      adjEnd = Math.max(adjEnd, r.end);
      this.vms.forEach((vm, t) => {
        if ((live & (1 << t)) === 0) return;
        // The system pages the GPU could write are marked dirty first (docs/findings/device-writes-not-dirtied.md).
        vm.dirtyWritable(r.start, r.end);
        vm.clearRange(r.start, r.end, 'xe_pt_zap_ptes_range');
      });
      tileMask |= live;
      r.tileInvalidated |= live;
    }
    // xe_vm_range_tilemask_tlb_invalidation: issue on every tile, then wait for all.
    const fences: Fence[] = [];
    this.vms.forEach((vm, t) => {
      if ((tileMask & (1 << t)) !== 0) fences.push(vm.flushTlbAsync(adjStart, adjEnd));
    });
    for (const f of fences) await f.wait();
  }

  /** `xe_svm_invalidate` (drm_gpusvm's `invalidate` op): no event or owner is filtered, MIGRATE included. */
  async invalidate(notifier: DrmGpusvmNotifier, mmuRange: MmuNotifierRange): Promise<void> {
    const start = Math.max(notifier.begin, mmuRange.start);
    const end = Math.min(notifier.end, mmuRange.end);
    const ranges = notifier.ranges.filter((r) => r.start < end && r.end > start);
    if (ranges.length === 0) return;
    await this.zapRangesLocked(ranges, start, end);
    for (const r of ranges) {
      this.gpusvm.unmapPagesLocked(r);
      if (mmuRange.event === MMU_NOTIFY_UNMAP) this.garbageCollectorAddRange(r);
    }
  }

  /** `xe_svm_garbage_collector_add_range`: the notifier may not remove a range itself. */
  private garbageCollectorAddRange(r: DrmGpusvmRange): void {
    if (r.unmapped) return;
    r.unmapped = true;
    this.gcSpinLock();
    this.gcList.set([...this.gcList.get(), r]);
    this.gcSpinUnlock();
    this.wq.queueWork(this.gcWork);
  }

  /** `spin_lock(&vm->svm.garbage_collector.lock)`. */
  protected gcSpinLock(): void {
    this.gcLock.lock();
  }

  /** `spin_unlock(&vm->svm.garbage_collector.lock)`. */
  protected gcSpinUnlock(): void {
    this.gcLock.unlock();
  }

  /** The first range of the collector's list, taken off it under its lock (`list_first_entry_or_null`, `list_del_init`). */
  private gcTake(): DrmGpusvmRange | undefined {
    this.gcSpinLock();
    const [r, ...rest] = this.gcList.get();
    if (r !== undefined) this.gcList.set(rest);
    this.gcSpinUnlock();
    return r;
  }

  /** `xe_svm_garbage_collector`, with `vm->lock` held: removes unmapped ranges, then empty notifiers. */
  private async garbageCollector(): Promise<void> {
    for (let r = this.gcTake(); r !== undefined; r = this.gcTake()) {
      const notifier = r.notifier;
      // drm_gpusvm_range_remove: the notifier already zapped it.
      await this.gpusvm.notifierLock.downWrite();
      this.gpusvm.unmapPagesLocked(r);
      const i = notifier.ranges.indexOf(r);
      if (i >= 0) notifier.ranges = notifier.ranges.toSpliced(i, 1);
      const empty = notifier.ranges.length === 0;
      this.gpusvm.notifierLock.upWrite();
      const j = this.gpusvm.notifiers.indexOf(notifier);
      if (empty && j >= 0) {
        this.gpusvm.notifiers = this.gpusvm.notifiers.toSpliced(j, 1);
        await mmuIntervalNotifierRemove(notifier);
      }
    }
  }

  /** A range whose VMA changed under it (mprotect split): zap it and let the collector remove it. */
  private async rangeDrop(r: DrmGpusvmRange): Promise<void> {
    await this.gpusvm.notifierLock.downWrite();
    await this.zapRangesLocked([r], r.start, r.end);
    this.gpusvm.unmapPagesLocked(r);
    this.garbageCollectorAddRange(r);
    this.gpusvm.notifierLock.upWrite();
    await this.garbageCollector();
  }

  /**
   * Binds `range` on `tile` (`xe_vm_range_rebind`): under the notifier lock (read), only if its
   * pages are still valid, the PTEs are written and `tile_present` set; else `-EAGAIN`.
   */
  private async bind(range: DrmGpusvmRange, tile: number): Promise<number> {
    const gpusvm = this.gpusvm;
    const vm = this.vms[tile] as DeviceVm;
    await gpusvm.notifierLock.downRead();
    if (!range.pagesValid || range.unmapped) {
      gpusvm.notifierLock.upRead();
      return -EAGAIN;
    }
    range.pages.forEach((page, i) => {
      if (page !== null) vm.setPte(range.start + i * this.kernel.pageSize, page, { write: range.writable[i] === true }, 'xe_pt_update');
    });
    range.tilePresent |= 1 << tile;
    range.tileInvalidated &= ~(1 << tile);
    gpusvm.notifierLock.upRead();
    return 0;
  }

  /** The body of a fault at `va` on `tile`, with `vm->lock` held: find or make the range, get its pages, bind it. */
  private async faultLocked(tile: number, va: number, write: boolean): Promise<number> {
    const mm = this.mm;
    await this.garbageCollector();
    for (let tries = 0; tries < 16; tries++) {
      const range = await this.gpusvm.rangeFindOrInsert(va);
      if (range === null) return -EFAULT;
      await mm.mmapLock.downRead();
      const vma = mm.findVma(va);
      const fits = vma !== undefined && range.start >= vma.start && range.end <= vma.end;
      mm.mmapLock.upRead();
      if (!vma?.readable) return -EFAULT;
      if (write && !vma.writable) return -EPERM;
      if (!fits) {
        await this.rangeDrop(range);
        continue;
      }
      // xe_svm_range_is_valid: already bound and usable; the GPU just replays.
      const live = range.validOnTile(tile);
      if (live && range.pagesValid && (!write || range.writable.every(Boolean))) return 0;
      let r = await this.gpusvm.rangeGetPages(range, vma.writable);
      // A read-only VRAM page cannot take the writes the VMA allows: fault it back as a foreign page.
      if (r === 0 && vma.writable && !range.writable.every(Boolean)) r = await this.gpusvm.rangeGetPages(range, true, null);
      if (r === 0) r = await this.bind(range, tile);
      if (r !== -EAGAIN) return r;
    }
    return 0; // still colliding: let the GPU replay the fault
  }

  /** `handle_pagefault` → `xe_svm_handle_pagefault`: a recoverable fault of `tile`. */
  async handlePagefault(tile: number, f: DeviceFault): Promise<number> {
    if (!this.mm.mmgetNotZero()) return -EFAULT;
    await this.lock.lock();
    try {
      if (this.closed.get()) return -ENOENT;
      return await this.faultLocked(tile, this.kernel.pageAlignDown(f.va), f.kind !== 'read');
    } finally {
      this.lock.unlock();
      await this.mm.mmput();
    }
  }

  /** Runs `fn` for each page of `[start, end)` under `vm->lock` with an mm reference. */
  private async eachPage(start: number, end: number, fn: (va: number) => Promise<number>): Promise<number> {
    if (!this.mm.mmgetNotZero()) return -EFAULT;
    await this.lock.lock();
    let r = 0;
    for (let va = start; r === 0 && va < end; va += this.kernel.pageSize) r = await fn(va);
    this.lock.unlock();
    await this.mm.mmput();
    return r;
  }

  /** `DRM_XE_VM_BIND_OP_PREFETCH` to system memory: bind `[start, end)` on tile 0 ahead of any access. */
  prefetch(start: number, end: number, write: boolean): Promise<number> {
    return this.eachPage(start, end, (va) => this.faultLocked(0, va, write));
  }

  /** `DRM_XE_VM_BIND_OP_PREFETCH` to VRAM: `xe_svm_alloc_vram` for each range of `[start, end)`. */
  migrateToDevice(start: number, end: number): Promise<number> {
    return this.eachPage(start, end, async (va) => {
      await this.garbageCollector();
      const range = await this.gpusvm.rangeFindOrInsert(va);
      return range === null || (range.start !== va && va !== start)
        ? 0
        : drmPagemapMigrateToDevmem(this.xe, this.mm, range.start, range.end);
    });
  }

  /** `drm_gpusvm_range_evict` for each range of `[start, end)`. */
  migrateToRam(start: number, end: number): Promise<number> {
    return this.eachPage(start, end, async (va) => {
      await this.garbageCollector();
      const range = await this.gpusvm.rangeFindOrInsert(va);
      return range === null || (range.start !== va && va !== start) ? 0 : this.gpusvm.rangeEvict(range);
    });
  }

  /** `drm_pagemap_evict_to_ram`: all of tile 0's VRAM. */
  evict(): Promise<number> {
    return drmPagemapEvictToRam(this.xe);
  }

  /** `xe_vm_close` + `xe_svm_close` + `drm_gpusvm_fini`: the VM closed, everything unbound before the notifiers go. */
  async unbind(): Promise<void> {
    await this.lock.lock();
    this.closed.set(true);
    await this.gpusvm.notifierLock.downWrite();
    for (const n of this.gpusvm.notifiers) {
      await this.zapRangesLocked(n.ranges, 0, ULONG_MAX);
      for (const r of n.ranges) this.gpusvm.unmapPagesLocked(r);
      n.ranges = [];
    }
    const notifiers = this.gpusvm.notifiers;
    this.gpusvm.notifiers = [];
    this.gpusvm.notifierLock.upWrite();
    for (const n of notifiers) await mmuIntervalNotifierRemove(n);
    this.lock.unlock();
  }

  toString(): string {
    return `xe vm (mm ${this.mm.id})`;
  }
}
