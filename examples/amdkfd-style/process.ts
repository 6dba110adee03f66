/**
 * `struct kfd_process` and its `svm_range_list` (drivers/gpu/drm/amd/amdkfd/kfd_process.c,
 * kfd_svm.c): the process mirrored on every GPU of the hive, its SVM ranges, the release notifier
 * that destroys its queues at exit, the restore worker of XNACK-off evictions, the deferred list
 * of unmapped ranges, the GPU fault handler of XNACK on (`svm_range_restore_pages`), and the
 * process's release work, which removes every range's notifier (`svm_range_list_fini`).
 */
import {
  DelayedWork,
  EAGAIN,
  EFAULT,
  EINVAL,
  EPERM,
  HmmlabError,
  type Kernel,
  type Mm,
  MmuNotifier,
  type Mutex,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuNotifierPut,
  mmuNotifierRegister,
  type SpinLock,
  ULONG_MAX,
  Work,
  type Workqueue,
} from '@hmmlab/core';
import { type Binding, type DeviceFault, type DeviceVm, SharedCell } from '@hmmlab/harness';
import type { KfdHive } from './kfd.js';
import { svmMigrateRangeToRam, svmMigrateRangeToVram, svmMigrateVramEvict } from './migrate.js';
import { SvmRange, svmRangeMnOps, svmRangeUnmapFromGpus, svmRangeValidateAndMap } from './svm-range.js';

/** Pages of a range created on a GPU fault (`svm_range_get_range_boundaries`, granularity 2^2). */
const SVM_GRANULE_PAGES = 4;

/** `struct kfd_process`, with its `svms`: the binding the fuzzer drives. */
export class KfdProcess implements Binding {
  readonly hive: KfdHive;
  readonly kernel: Kernel;
  readonly mm: Mm;
  /** One process VM per GPU (`kfd_process_device`). */
  readonly vms: readonly DeviceVm[];
  /** `svms->lock`: the list of ranges. Order: mmap lock, then this, then a range's lock. */
  readonly svmsLock: Mutex;
  /** `svms->list`. */
  readonly ranges: SvmRange[] = [];
  /**
   * `svms->evicted_ranges`: an `atomic_t` (drivers/gpu/drm/amd/amdkfd/kfd_svm.c: `svm_range_evict`
   * increments it with `atomic_inc_return`, `svm_range_restore_work` clears it with
   * `atomic_cmpxchg`), so its accesses never race with each other.
   */
  private readonly evictedCell: SharedCell<number>;
  /**
   * Queue evictions in force (`kgd2kfd_quiesce_mm` / `kgd2kfd_resume_mm` pairs): the kernel counts
   * them per queue set (`qpd->evicted`) under the DQM lock (`dqm_lock` in
   * `evict_process_queues_cpsch` and `restore_process_queues_cpsch`,
   * drivers/gpu/drm/amd/amdkfd/kfd_device_queue_manager.c), which the eviction path in the
   * callback and the restore worker both take. Here the count and the queues' state change
   * together without a sleep in between, so its accesses are declared atomic.
   */
  private readonly quiescedCell: SharedCell<number>;
  /**
   * The queues are destroyed (`kfd_process_notifier_release`): the process is gone from the table
   * the other paths look it up in. The kernel removes it with `hash_del_rcu` under
   * `kfd_processes_mutex` and then waits with `synchronize_srcu`, and readers find it under
   * `srcu_read_lock` (drivers/gpu/drm/amd/amdkfd/kfd_process.c: `kfd_process_notifier_release`,
   * `kfd_lookup_process_by_mm`, which `kgd2kfd_quiesce_mm` calls from the eviction path): marked
   * accesses, atomic here. The fault paths and the restore worker read it only while holding an
   * `mm_users` reference.
   */
  private readonly destroyedCell: SharedCell<boolean>;
  readonly wq: Workqueue;
  /** `svms->restore_work`. */
  readonly restoreWork: DelayedWork;
  /** `svms->deferred_list`, under {@link KfdProcess.deferredListLock}. */
  private readonly deferredList: SharedCell<readonly SvmRange[]>;
  /**
   * `svms->deferred_list_lock`, a spinlock: the invalidation adds to the list under the range's
   * lock, the worker takes from it under none, so the list has a lock of its own. Never held across
   * a sleep, so taking it never waits here.
   */
  private readonly deferredListLock: SpinLock;
  readonly deferredWork: Work;
  /** `p->mmu_notifier`: `release`, and `free_notifier` once the last reference is put. */
  readonly notifier: MmuNotifier;
  /** `kfd_process_wq`, where the process's release work runs. */
  private readonly releaseWq: Workqueue;

  private constructor(hive: KfdHive, mm: Mm) {
    this.hive = hive;
    this.kernel = hive.kernel;
    this.mm = mm;
    this.vms = hive.gpus.map((gpu, i) => gpu.createVm(mm, { fault: (_vm, f) => this.restorePages(i, f) }));
    this.svmsLock = this.kernel.mutex(`kfd svms lock (mm ${mm.id})`);
    this.wq = this.kernel.workqueue(`kfd_svm (mm ${mm.id})`);
    this.restoreWork = new DelayedWork('svm_range_restore_work', () => this.restoreWorker());
    this.deferredList = new SharedCell<readonly SvmRange[]>(this.kernel, `kfd svms deferred_list (mm ${mm.id})`, []);
    this.deferredListLock = this.kernel.spinlock(`kfd svms deferred_list_lock (mm ${mm.id})`);
    this.deferredWork = new Work('svm_range_deferred_list_work', () => this.deferredListWork());
    this.releaseWq = this.kernel.workqueue(`kfd_process_wq (mm ${mm.id})`);
    // kfd_process_free_notifier drops the process's reference; the last one queues
    // kfd_process_wq_release (drivers/gpu/drm/amd/amdkfd/kfd_process.c: kfd_process_ref_release).
    this.notifier = new MmuNotifier(
      {
        release: () => this.release(),
        freeNotifier: () => {
          this.releaseWq.queueWork(new Work('kfd_process_wq_release', () => this.svmRangeListFini()));
        },
      },
      `kfd process (mm ${mm.id})`,
    );
    this.evictedCell = new SharedCell(this.kernel, `kfd svms evicted_ranges (mm ${mm.id})`, 0, { atomic: true });
    this.quiescedCell = new SharedCell(this.kernel, `kfd qpd evicted (mm ${mm.id})`, 0, { atomic: true });
    this.destroyedCell = new SharedCell(this.kernel, `kfd process destroyed (mm ${mm.id})`, false, { atomic: true });
  }

  /** See {@link KfdProcess.evictedCell}. */
  get evictedRanges(): number {
    return this.evictedCell.get();
  }
  set evictedRanges(v: number) {
    this.evictedCell.set(v);
  }

  /** See {@link KfdProcess.destroyedCell}. */
  get destroyed(): boolean {
    return this.destroyedCell.get();
  }
  set destroyed(v: boolean) {
    this.destroyedCell.set(v);
  }

  /** `kfd_create_process`: registers the release notifier; with XNACK off, maps every VMA on every GPU. */
  static async create(hive: KfdHive, mm: Mm): Promise<KfdProcess> {
    const p = new KfdProcess(hive, mm);
    const ret = await mmuNotifierRegister(p.notifier, mm);
    if (ret !== 0) throw new HmmlabError('ERR_STATE', `kfd_create_process: mmu_notifier_get failed with ${ret}`);
    if (!hive.xnack) {
      const vmas = mm.vmas.map((v) => [v.start, v.end] as const);
      for (const [s, e] of vmas) await p.setAttrAccess(s, e, null);
    }
    return p;
  }

  /** `kgd2kfd_quiesce_mm`: the process's queues stop (at once) until the matching resume. */
  quiesceMm(): void {
    const n = this.quiescedCell.get();
    this.quiescedCell.set(n + 1);
    if (n === 0) for (const g of this.hive.gpus) g.quiesce();
  }

  /** `kgd2kfd_resume_mm`. */
  private resumeMm(): void {
    const n = this.quiescedCell.get();
    if (n === 0) return;
    this.quiescedCell.set(n - 1);
    if (n === 1) for (const g of this.hive.gpus) g.resume();
  }

  /**
   * `kfd_process_notifier_release`: the mm is going away. The queues are destroyed before
   * exit_mmap unmaps anything, which is what lets the range callback ignore RELEASE (N5): every
   * translation goes, later GPU accesses fault fatally, and work waiting on stopped queues runs
   * into that. This is the order of the fixed kernel ("drm/amdkfd: Dequeue user queues when
   * process mm released"); v6.1 dequeued them only in `kfd_process_wq_release`, after exit_mmap
   * (examples/buggy/d2-queues-after-mm-release).
   */
  async release(): Promise<void> {
    this.destroyed = true;
    this.wq.cancel(this.restoreWork);
    await svmRangeUnmapFromGpus(this, 0, ULONG_MAX);
    this.quiescedCell.set(0);
    for (const g of this.hive.gpus) {
      g.faultMode = 'fatal';
      g.resume();
    }
    // kfd_process_notifier_release_internal ends with mmu_notifier_put: the registration's
    // reference on the mm (mmgrab) goes with the process, or the mm_struct is never freed.
    mmuNotifierPut(this.notifier);
  }

  /**
   * The live range that covers `va`, with `svmsLock` held. Like the interval-tree lookup of
   * `svm_range_from_addr`, it reads the state (`removed`) of the ranges around `va` only.
   */
  private find(va: number): SvmRange | undefined {
    return this.ranges.find((r) => va >= r.begin && va < r.end && !r.removed);
  }

  /**
   * `svm_range_create_unregistered_range` / `svm_range_add`: the range around `va` (a granule
   * clipped to its VMA and to the ranges around it), creating it if needed. Its notifier is
   * inserted with no lock held (the first insert takes the mmap lock for writing); a range that
   * lost a race with another goes to the deferred list.
   */
  private async getOrCreate(va: number): Promise<SvmRange | null> {
    const ps = this.kernel.pageSize;
    const g = SVM_GRANULE_PAGES * ps;
    for (;;) {
      await this.mm.mmapLock.downRead();
      await this.svmsLock.lock();
      const found = this.find(va);
      const vma = this.mm.findVma(va);
      let start = Math.max(va - (va % g), vma?.start ?? 0);
      let end = Math.min(va - (va % g) + g, vma?.end ?? 0);
      // The live ranges that clip the granule (a range that would not clip it is not read).
      for (const r of this.ranges) {
        if (r.end <= va) {
          if (r.end > start && !r.removed) start = r.end;
        } else if (r.begin > va && r.begin < end && !r.removed) end = r.begin;
      }
      this.svmsLock.unlock();
      this.mm.mmapLock.upRead();
      if (found !== undefined) return found;
      if (vma === undefined) return null;
      const prange = new SvmRange(this, start, end);
      if ((await mmuIntervalNotifierInsert(prange, this.mm, start, end - start, svmRangeMnOps)) !== 0) return null;
      await this.svmsLock.lock();
      const raced = this.ranges.some((r) => r.begin < end && r.end > start && !r.removed);
      if (!raced) {
        // svms lock, then the range lock, as the mapping paths take them.
        await prange.lock.lock();
        prange.listed = true;
        prange.lock.unlock();
        this.ranges.push(prange);
      }
      this.svmsLock.unlock();
      if (!raced) return prange;
      // The loser goes the way of an unmapped range, once, whichever comes first.
      await prange.lock.lock();
      if (!prange.removed) {
        prange.removed = true;
        this.deferredListAdd(prange);
      }
      prange.lock.unlock();
    }
  }

  /**
   * `svm_range_set_attr` with access on every GPU: creates the ranges of `[start, end)` and maps
   * them. Returns 0 or a negative errno.
   */
  private async setAttrAccess(start: number, end: number, required: readonly [number, number] | null): Promise<number> {
    const ps = this.kernel.pageSize;
    for (let va = start; va < end; va += ps) if ((await this.getOrCreate(va)) === null) return -EFAULT;
    const all = this.vms.map((_vm, i) => i);
    for (let tries = 0; ; tries++) {
      await this.mm.mmapLock.downRead();
      await this.svmsLock.lock();
      let r = 0;
      for (const prange of this.ranges.slice()) {
        if (prange.end <= start || prange.begin >= end || prange.removed) continue;
        r = await svmRangeValidateAndMap(prange, Math.max(start, prange.begin), Math.min(end, prange.end), all, required);
        if (r !== 0) break;
      }
      this.svmsLock.unlock();
      this.mm.mmapLock.upRead();
      if (r !== -EAGAIN || tries >= 8) return r;
    }
  }

  /**
   * `svm_range_restore_pages`: a retry fault (XNACK on) at `f.va` on GPU `gpu`. The access must be
   * allowed by the VMA (`svm_fault_allowed`), else the fault fails rather than be replayed forever.
   */
  async restorePages(gpu: number, f: DeviceFault): Promise<number> {
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EFAULT;
    try {
      if (this.destroyed) return -EFAULT;
      for (let tries = 0; tries < 16; tries++) {
        const prange = await this.getOrCreate(f.va);
        if (prange === null) return -EFAULT;
        await mm.mmapLock.downRead();
        const vma = mm.findVma(f.va);
        let r = vma?.readable ? 0 : -EFAULT;
        if (r === 0 && f.kind !== 'read' && !vma?.writable) r = -EPERM;
        if (r === 0) {
          await this.svmsLock.lock();
          const page = [f.va, f.va + this.kernel.pageSize] as const;
          r = prange.removed ? -EAGAIN : await svmRangeValidateAndMap(prange, prange.begin, prange.end, [gpu], page);
          this.svmsLock.unlock();
        }
        mm.mmapLock.upRead();
        if (r !== -EAGAIN) return r;
      }
      return 0; // still colliding: let the GPU replay the fault
    } finally {
      await mm.mmput();
    }
  }

  /**
   * `svm_range_restore_work` (XNACK off): revalidates and remaps every evicted range, then resumes
   * the queues, but only if no eviction came meanwhile; otherwise it runs again.
   */
  private async restoreWorker(): Promise<void> {
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return;
    if (this.destroyed) {
      await mm.mmput();
      return;
    }
    const evicted = this.evictedRanges;
    let r = 0;
    await mm.mmapLock.downRead();
    await this.svmsLock.lock();
    for (const prange of this.ranges.slice()) {
      const invalid = prange.invalid;
      if (invalid === 0 || prange.removed) continue;
      r = await svmRangeValidateAndMap(
        prange,
        prange.begin,
        prange.end,
        this.vms.map((_vm, i) => i),
        null,
      );
      if (r !== 0) break;
      // atomic_cmpxchg(&prange->invalid, invalid, 0): an eviction meanwhile keeps it invalid.
      if (prange.invalid === invalid) prange.invalid = 0;
    }
    this.svmsLock.unlock();
    mm.mmapLock.upRead();
    if (!this.destroyed) {
      // atomic_cmpxchg(&svms->evicted_ranges, evicted, 0), then kgd2kfd_resume_mm: with nothing
      // in between, so an eviction cannot slip between the check and the resume.
      if (r === 0 && this.evictedRanges === evicted) {
        this.evictedRanges = 0;
        this.resumeMm();
      } else {
        this.wq.queueDelayedWork(this.restoreWork, 1);
      }
    }
    await mm.mmput();
  }

  /**
   * `svm_range_list_fini`, from `kfd_process_wq_release` (drivers/gpu/drm/amd/amdkfd/kfd_svm.c,
   * kfd_process.c): the restore worker cancelled, the deferred list worked off, then every range
   * left on the list unlinked and its notifier removed. Whatever the invalidations before it did
   * with the ranges, none of their notifiers outlives the process.
   */
  private async svmRangeListFini(): Promise<void> {
    await this.wq.cancelSync(this.restoreWork);
    await this.wq.flushWork(this.deferredWork);
    for (let prange = this.ranges.shift(); prange !== undefined; prange = this.ranges.shift()) await mmuIntervalNotifierRemove(prange);
  }

  /** `spin_lock(&svms->deferred_list_lock)`. */
  protected deferredSpinLock(): void {
    this.deferredListLock.lock();
  }

  /** `spin_unlock(&svms->deferred_list_lock)`. */
  protected deferredSpinUnlock(): void {
    this.deferredListLock.unlock();
  }

  /** `svm_range_add_list_work` + `schedule_deferred_list_work`: queues `prange` for its notifier's removal. */
  deferredListAdd(prange: SvmRange): void {
    this.deferredSpinLock();
    this.deferredList.set([...this.deferredList.get(), prange]);
    this.deferredSpinUnlock();
    this.wq.queueWork(this.deferredWork);
  }

  /** The ranges queued for the deferred worker (for tests, after a run). */
  get deferredRanges(): readonly SvmRange[] {
    return this.deferredList.get();
  }

  /** The first range of the deferred list, taken off it under its lock. */
  private deferredListTake(): SvmRange | undefined {
    this.deferredSpinLock();
    const [prange, ...rest] = this.deferredList.get();
    if (prange !== undefined) this.deferredList.set(rest);
    this.deferredSpinUnlock();
    return prange;
  }

  /** `svm_range_deferred_list_work`: removes the notifiers of ranges the CPU unmapped. */
  private async deferredListWork(): Promise<void> {
    for (let prange = this.deferredListTake(); prange !== undefined; prange = this.deferredListTake()) {
      await this.svmsLock.lock();
      const i = this.ranges.indexOf(prange);
      if (i >= 0) this.ranges.splice(i, 1);
      this.svmsLock.unlock();
      await mmuIntervalNotifierRemove(prange);
    }
  }

  /** KFD_IOCTL_SVM with access attributes: map `[start, end)` on every GPU ahead of any access. */
  async prefetch(start: number, end: number): Promise<number> {
    if (!this.mm.mmgetNotZero()) return -EINVAL;
    const r = this.destroyed ? -EINVAL : await this.setAttrAccess(start, end, [start, end]);
    await this.mm.mmput();
    return r;
  }

  /** KFD_IOCTL_SVM with PREFETCH_LOC = GPU 0: `svm_migrate_ram_to_vram`. */
  migrateToDevice(start: number, end: number): Promise<number> {
    return svmMigrateRangeToVram(this, start, end);
  }

  /** KFD_IOCTL_SVM with PREFETCH_LOC = system memory: `svm_migrate_vram_to_ram`. */
  migrateToRam(start: number, end: number): Promise<number> {
    return svmMigrateRangeToRam(this, start, end);
  }

  /** VRAM pressure: every VRAM page of the hive back to system memory. */
  evict(): Promise<number> {
    return svmMigrateVramEvict(this.hive);
  }

  toString(): string {
    return this.notifier.name;
  }
}
