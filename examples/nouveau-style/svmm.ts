/**
 * `struct nouveau_svmm` (drivers/gpu/drm/nouveau/nouveau_svm.c): one process mirrored in the GPU's
 * VMM. Two kinds of notifiers:
 *
 * - a classic `mmu_notifier` over the whole mm, whose `invalidate_range_start` clears the GPU
 *   page table (`NVIF_VMM_V0_PFNCLR`) for every invalidation except the GPU's own migrations;
 * - a short-lived `mmu_interval_notifier` per GPU fault, whose callback only moves the sequence
 *   under `svmm->mutex`: it runs before the classic one, so the fault path's
 *   `mmu_interval_read_retry` sees every invalidation whose zap it might otherwise race.
 */
import {
  EAGAIN,
  EBUSY,
  EFAULT,
  EINVAL,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  handleMmFault,
  hmmPfnToPage,
  type Kernel,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  type Mm,
  MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  MmuNotifier,
  type MmuNotifierRange,
  type Mutex,
  makeDeviceExclusive,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierPut,
  mmuNotifierRangeBlockable,
  PTE_PRESENT,
  pteAccessible,
  pteKindOf,
  pteWrite,
  ULONG_MAX,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
} from '@hmmlab/core';
import { type Binding, type DeviceFault, type DeviceVm, HMM_RANGE_DEFAULT_TIMEOUT, hmmRangeFaultLoop, SharedCell } from '@hmmlab/harness';
import {
  nouveauDmemEvictChunk,
  nouveauDmemEvictSvmm,
  nouveauDmemMigrateVma,
  nouveauDmemMigrateVmaToRam,
  nouveauDmemPagesOf,
} from './dmem.js';
import type { NouveauDrm } from './drm.js';

/** What `commit` returns when a write fault got a read-only VRAM page: fault it back to RAM first. */
const NEEDS_SYSTEM_PAGE = 1;

/** `struct svm_notifier`: an interval notifier that knows its svmm (`container_of`). */
export class SvmNotifier extends MmuIntervalNotifier {
  readonly svmm: NouveauSvmm;
  constructor(svmm: NouveauSvmm, name: string) {
    super(name);
    this.svmm = svmm;
  }
}

/**
 * `nouveau_svm_range_invalidate`: the GPU's own device-exclusive conversion is skipped without
 * `set_seq` (the atomic fault path checks `read_retry` itself and would otherwise livelock on its
 * own conversion, N2); anything else only moves the sequence, under the mutex the fault path
 * holds while it programs the GPU. The zap is the classic notifier's job.
 */
const nouveauSvmMniOps: MmuIntervalNotifierOps = {
  async invalidate(mni, range, curSeq) {
    const svmm = (mni as SvmNotifier).svmm;
    if (range.event === MMU_NOTIFY_EXCLUSIVE && range.owner === svmm.drm.dev) return true;
    if (mmuNotifierRangeBlockable(range)) await svmm.mutex.lock();
    else if (!svmm.mutex.tryLock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    svmm.mutex.unlock();
    return true;
  },
};

/** `struct nouveau_svmm`, and the binding the fuzzer drives. */
export class NouveauSvmm implements Binding {
  readonly drm: NouveauDrm;
  readonly kernel: Kernel;
  /** `svmm->notifier.mm`. */
  readonly mm: Mm;
  /** The GPU VMM (`svmm->vmm->vmm`). */
  readonly vmm: DeviceVm;
  /** `svmm->mutex`: serializes GPU page-table updates with the notifiers. */
  readonly mutex: Mutex;
  /** `svmm->notifier`. */
  readonly notifier: MmuNotifier;
  /**
   * False once `svmm->vmm` is NULL (released or closed): nothing may be mapped any more. Read and
   * written under `svmm->mutex` by the notifier, release and the fault paths.
   */
  private readonly liveCell: SharedCell<boolean>;

  constructor(drm: NouveauDrm, mm: Mm, id: number) {
    this.drm = drm;
    this.kernel = drm.kernel;
    this.liveCell = new SharedCell(drm.kernel, `${drm.device.name} svmm ${id} vmm`, true);
    this.mm = mm;
    this.mutex = this.kernel.mutex(`${drm.device.name} svmm${id} mutex`);
    this.vmm = drm.device.createVm(mm, { fault: (_vm, f) => this.svmFault(f) });
    this.notifier = new MmuNotifier(
      {
        invalidateRangeStart: (_mn, update) => this.invalidateRangeStart(update),
        release: () => this.release(),
      },
      `${drm.device.name} svmm${id}`,
    );
  }

  get vms(): readonly DeviceVm[] {
    return [this.vmm];
  }

  /**
   * `nouveau_svmm_invalidate`: `NVIF_VMM_V0_PFNCLR`, a synchronous method that also invalidates
   * the GPU TLB. Caller holds the mutex. The system pages the GPU could write are marked dirty
   * first (nouveau 6.1 does not; docs/findings/device-writes-not-dirtied.md).
   */
  invalidate(start: number, limit: number): void {
    if (limit <= start) return;
    this.vmm.dirtyWritable(start, limit);
    this.vmm.clearRange(start, limit, 'PFNCLR');
    this.vmm.flushTlb(start, limit);
  }

  /** See {@link NouveauSvmm.liveCell}. */
  get live(): boolean {
    return this.liveCell.get();
  }
  set live(v: boolean) {
    this.liveCell.set(v);
  }

  /**
   * `nouveau_svmm_invalidate_range_start`: like nouveau (6.1 and the newest tree), it refuses
   * every non-blockable range with -EAGAIN before taking the mutex, so the OOM reaper skips the
   * VMA. On the kernel as it is, that refusal after the fault's interval notifier succeeded leaves
   * the interval tree invalidating for ever (docs/findings/classic-eagain-itree-leak.md), and the
   * next `mmu_interval_read_begin` of the fault path never returns: driver.ts runs the fixed
   * kernel (`classicFailureItree: 'end'`), and driver.test.ts shows the hang on the kernel as it is.
   */
  async invalidateRangeStart(update: MmuNotifierRange): Promise<number> {
    if (!mmuNotifierRangeBlockable(update)) return -EAGAIN;
    await this.mutex.lock();
    // Ignore our own migrations: every migration path revokes what it copies (I5 c), see dmem.ts.
    const ownMigration = update.event === MMU_NOTIFY_MIGRATE && update.owner === this.drm.dev;
    if (this.live && !ownMigration) this.invalidate(update.start, update.end);
    this.mutex.unlock();
    return 0;
  }

  /**
   * `release`: the mm is being torn down and the classic notifier is about to be unhashed, so the
   * UNMAP of `exit_mmap` will never reach `invalidate_range_start`. nouveau registers no release
   * op; without one the GPU would keep its translations of pages exit frees (I9).
   */
  async release(): Promise<void> {
    await this.mutex.lock();
    // Closing the client may have freed the GPU VMM already (`svmm->vmm = NULL`): an `exit_mmap`
    // that found the notifier hashed still calls release after `mmu_notifier_put`.
    if (this.live) this.invalidate(0, ULONG_MAX);
    this.live = false;
    this.mutex.unlock();
  }

  /**
   * `nouveau_svmm_fini`: closing the client. The GPU's translations go under the mutex (`svmm->vmm
   * = NULL`), then `mmu_notifier_put` drops the registration's reference on the mm, whether or not
   * `exit_mmap` already unhashed the notifier: only the put (or an unregister) does `mmdrop`.
   *
   * Fix (docs/findings/nouveau-svmm-freed-under-vram.md): the put frees the svmm once its SRCU
   * grace period ends (`nouveau_svmm_free_notifier`), but every VRAM page this svmm migrated keeps
   * it as its `zone_device_data`, and a CPU fault on one of them runs `nouveau_dmem_migrate_to_ram`,
   * which takes `svmm->mutex`: after the client closed, on freed memory. Nouveau 6.1 evicts VRAM
   * only when the device goes (`nouveau_dmem_fini`); here the client's own pages come back first,
   * one `migrate_device_range` each, again until none is left (a fault holding one's lock makes
   * `migrate_device_range` skip it, as dmirror-fixed's release handles).
   */
  async unbind(): Promise<void> {
    await this.release();
    for (let pfns = nouveauDmemPagesOf(this); pfns.length > 0; pfns = nouveauDmemPagesOf(this)) {
      await nouveauDmemEvictSvmm(this, pfns);
      // A page a CPU fault holds locked was skipped: its fault finishes first.
      if (nouveauDmemPagesOf(this).length > 0) await this.kernel.yieldPoint();
    }
    mmuNotifierPut(this.notifier);
  }

  /** `nouveau_svm_fault` for one fault: `mmget_not_zero`, then the read/write or the atomic path. */
  async svmFault(f: DeviceFault): Promise<number> {
    const start = this.kernel.pageAlignDown(f.va);
    // The mm is gone: nouveau_svm_fault_cancel_fault.
    if (!this.mm.mmgetNotZero()) return -EFAULT;
    try {
      if (f.kind === 'atomic') return await this.atomicRangeFault(start);
      return await this.rangeFault(start, f.kind === 'write');
    } finally {
      await this.mm.mmput();
    }
  }

  /**
   * `nouveau_range_fault`: an interval notifier over the fault window (one page), the canonical
   * loop with `dev_private_owner = drm->dev` (own VRAM pages come back as they are), and the
   * GPU update under `svmm->mutex` after `mmu_interval_read_retry`.
   */
  async rangeFault(start: number, write: boolean): Promise<number> {
    const ps = this.kernel.pageSize;
    const notifier = new SvmNotifier(this, `nouveau fault 0x${start.toString(16)}`);
    const ret = await mmuIntervalNotifierInsert(notifier, this.mm, start, ps, nouveauSvmMniOps);
    if (ret !== 0) return ret;
    try {
      let owner: unknown = this.drm.dev;
      for (;;) {
        const range: HmmRange = {
          notifier,
          notifierSeq: 0,
          start,
          end: start + ps,
          hmmPfns: [0],
          defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
          pfnFlagsMask: 0,
          devPrivateOwner: owner,
        };
        const r = await hmmRangeFaultLoop({
          mm: this.mm,
          range,
          lock: () => this.mutex.lock(),
          unlock: () => this.mutex.unlock(),
          commit: (rg) => this.pfnmap(rg, write),
        });
        // A read-only VRAM page cannot take a write: as a foreign page it is faulted back to RAM.
        if (r === NEEDS_SYSTEM_PAGE && owner !== null) owner = null;
        else return r === NEEDS_SYSTEM_PAGE ? -EFAULT : r;
      }
    } finally {
      await mmuIntervalNotifierRemove(notifier);
    }
  }

  /** `nouveau_hmm_convert_pfn` + `NVIF_VMM_V0_PFNMAP`, with the mutex held and the sequence still valid. */
  private pfnmap(range: HmmRange, write: boolean): number {
    if (!this.live) return -EFAULT;
    const e = range.hmmPfns[0] as number;
    if ((e & HMM_PFN_VALID) === 0) return -EFAULT;
    const writable = (e & HMM_PFN_WRITE) !== 0;
    if (write && !writable) return NEEDS_SYSTEM_PAGE;
    this.vmm.setPte(range.start, hmmPfnToPage(this.kernel, e), { write: writable }, 'PFNMAP');
    return 0;
  }

  /**
   * `nouveau_atomic_range_fault`: the page is made device-exclusive with the GPU's owner (its
   * own EXCLUSIVE invalidation is skipped by the interval notifier, not by the classic one), then
   * mapped with atomic permission under the mutex if the sequence still holds. The folio is
   * unlocked and put on every path (G2).
   */
  async atomicRangeFault(start: number): Promise<number> {
    const k = this.kernel;
    const notifier = new SvmNotifier(this, `nouveau atomic 0x${start.toString(16)}`);
    const ret = await mmuIntervalNotifierInsert(notifier, this.mm, start, k.pageSize, nouveauSvmMniOps);
    if (ret !== 0) return ret;
    const timeout = k.jiffies + HMM_RANGE_DEFAULT_TIMEOUT;
    try {
      for (;;) {
        if (k.jiffies > timeout) return -EBUSY;
        // Undo a device-exclusive entry left by an earlier attempt before the read section: the
        // GUP inside make_device_exclusive would undo it with a CLEAR and so always retry.
        if ((await this.faultInWritable(start)) !== 0) return -EINVAL;
        const seq = await mmuIntervalReadBegin(notifier);
        await this.mm.mmapLock.downRead();
        const page = await makeDeviceExclusive(this.mm, start, this.drm.dev);
        this.mm.mmapLock.upRead();
        if (typeof page === 'number') return -EINVAL;
        await this.mutex.lock();
        const stale = mmuIntervalReadRetry(notifier, seq);
        const live = this.live;
        if (!stale && live) this.vmm.setPte(start, page, { write: true, atomic: true }, 'PFNMAP atomic');
        this.mutex.unlock();
        k.pages.unlockPage(page);
        k.pages.putPage(page);
        if (!stale) return live ? 0 : -EFAULT;
      }
    } finally {
      await mmuIntervalNotifierRemove(notifier);
    }
  }

  /**
   * `get_user_pages_remote(mm, addr, 1, FOLL_WRITE)` + `put_page`: faults the page in writable,
   * which restores a device-exclusive entry. Returns 0 or -EFAULT.
   */
  private async faultInWritable(addr: number): Promise<number> {
    const mm = this.mm;
    await mm.mmapLock.downRead();
    try {
      const vma = mm.findVma(addr);
      if (vma === undefined || !vma.writable) return -EFAULT;
      for (let tries = 0; tries < 8; tries++) {
        const e = mm.pte(addr);
        if (pteKindOf(e) === PTE_PRESENT && pteAccessible(e) && pteWrite(e)) return 0;
        if ((await handleMmFault(mm, vma, addr, true)) & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) return -EFAULT;
      }
      return -EFAULT;
    } finally {
      mm.mmapLock.upRead();
    }
  }

  /** Faults `[start, end)` in page by page, as the GPU's fault handler would. */
  async prefetch(start: number, end: number, write: boolean): Promise<number> {
    for (let va = start; va < end; va += this.kernel.pageSize) {
      const r = await this.svmFault({ va, kind: write ? 'write' : 'read' });
      if (r !== 0) return r;
    }
    return 0;
  }

  /** Takes `[start, end)` for GPU atomics (`nouveau_atomic_range_fault` page by page). */
  async makeExclusive(start: number, end: number): Promise<number> {
    for (let va = start; va < end; va += this.kernel.pageSize) {
      const r = await this.svmFault({ va, kind: 'atomic' });
      if (r !== 0) return r;
    }
    return 0;
  }

  /** `NOUVEAU_SVM_BIND` with target GPU_VRAM: `nouveau_dmem_migrate_vma`. */
  migrateToDevice(start: number, end: number): Promise<number> {
    return nouveauDmemMigrateVma(this, start, end);
  }

  /** The CPU target nouveau's bind ioctl leaves as a FIXME: `nouveau_dmem_migrate_to_ram`'s steps over a range. */
  migrateToRam(start: number, end: number): Promise<number> {
    return nouveauDmemMigrateVmaToRam(this, start, end);
  }

  /** `nouveau_dmem_evict_chunk` of all of the VRAM. */
  evict(): Promise<number> {
    return nouveauDmemEvictChunk(this.drm);
  }

  toString(): string {
    return this.notifier.name;
  }
}
