/**
 * A small, correct GPU SVM mirror in the style of drm_gpusvm/xe and nouveau: one interval
 * notifier over the whole address space, a driver lock `L` (`svm->lock`) around
 * `mmu_interval_set_seq` and `mmu_interval_read_retry`, a device with a TLB and optional device
 * memory. The bug zoo (examples/buggy) and its negative controls are this driver with one decision
 * changed: every step a variant overrides is a method of its own, so the buggy line is all a case's
 * driver.ts shows.
 *
 * The migration paths live in svm-migrate.ts, the device-exclusive path in svm-exclusive.ts.
 */
import {
  type Atomic,
  EFAULT,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToPage,
  type Kernel,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  type Mm,
  MmuIntervalNotifier,
  type MmuNotifier,
  type MmuNotifierEvent,
  type MmuNotifierRange,
  type Mutex,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  mmuNotifierRegister,
  mmuNotifierUnregister,
  type Page,
  ULONG_MAX,
  type VmFault,
  type WaitQueue,
} from '@hmmlab/core';
import { type Binding, type Device, type DeviceFault, type DeviceVm, hmmRangeFaultLoop, SharedCell, SharedMap } from '@hmmlab/harness';
import { svmExclusiveFault, svmMapExclusive, svmReleaseExclusive } from './svm-exclusive.js';
import { svmEvict, svmMigrateToDevice, svmMigrateToRam, svmToRam, type ToRamCaller } from './svm-migrate.js';

/** How a mirror treats the invalidations its own paths cause (bug-classes I5). */
export interface SvmPolicy {
  /**
   * Its own `MMU_NOTIFY_MIGRATE`: `zap` like any other event (xe, amdkfd), or `keep` the
   * translations and only move the sequence, because every migration path revokes what it copies
   * (the seed patch's skip, nouveau, test_hmm: N1). @defaultValue 'zap'
   */
  readonly ownMigrate: 'zap' | 'keep';
  /**
   * Its own `MMU_NOTIFY_EXCLUSIVE`: returned at once without `set_seq`, because the initiator
   * checks `read_retry` itself (nouveau_svm_range_invalidate: N2). Needed by devices whose atomics
   * need a device-exclusive page, which would otherwise invalidate their own conversion forever.
   * `always` trusts the owner alone, as nouveau does; `while-converting` also requires that this
   * mirror is converting a page right now (the owner cannot tell the two apart on a core that sets
   * it on the CPU's revocation too: bug class S15). @defaultValue 'never'
   */
  readonly skipOwnExclusive: 'never' | 'always' | 'while-converting';
  /**
   * The device reaches system pages through DMA mappings (an ODP NIC, xe's dma-mapped ranges):
   * the fault path maps each system page it programs, and a revocation unmaps it.
   * @defaultValue false
   */
  readonly dma: boolean;
}

/** `svm->lock` held: what the fault path commits from `hmm_range_fault`. */
export interface SvmCommit {
  readonly range: HmmRange;
  readonly write: boolean;
}

/** One process mirrored on one device: a nouveau `svmm`, a drm_gpusvm, an amdkfd process VM. */
export class SvmMirror implements Binding {
  readonly kernel: Kernel;
  readonly device: Device;
  readonly mm: Mm;
  readonly vm: DeviceVm;
  /** The driver lock `L`. */
  readonly lock: Mutex;
  readonly notifier: MmuIntervalNotifier;
  readonly policy: SvmPolicy;
  /**
   * Exclusive conversions this mirror has in progress (svm-exclusive.ts): an `atomic_t`, changed
   * by the converting path and read by the callback without `L`.
   */
  private readonly convertingCell: SharedCell<number>;
  /** Invalidations other than its own migrations, counted under `L` (see svm-migrate.ts). */
  private readonly foreignCell: SharedCell<number>;
  /**
   * System pages DMA-mapped for the device, by virtual page number (drivers whose device reads
   * through the IOMMU): written by the fault path, read and emptied by the callback, both under `L`.
   */
  readonly dmaMapped: SharedMap<number, Page>;
  /** Set under `L` by {@link SvmMirror.revokeAllAndDetach}: the device VM is no longer this mirror's to touch. */
  detached = false;
  /**
   * The device's faults: taken while open, counted while the driver handles them. The device
   * raises faults whether or not the file is closing, so `unbind` first stops taking them and
   * waits for those in flight ({@link SvmMirror.stopFaults}, as nouveau's fault buffer fini and
   * the flush of a fault worker do) before it tears anything down.
   */
  private faultsOpen = true;
  /** Counted in with `atomic_inc`, out with `atomic_dec_and_test`, which orders each fault's work before the waiter's. */
  private readonly faultsInFlight: Atomic;
  private readonly faultsDone: WaitQueue;

  constructor(device: Device, mm: Mm, policy: Partial<SvmPolicy> = {}) {
    this.kernel = device.kernel;
    this.device = device;
    this.mm = mm;
    this.policy = { ownMigrate: 'zap', skipOwnExclusive: 'never', dma: false, ...policy };
    this.lock = this.kernel.mutex(`${device.name} svm lock`);
    this.convertingCell = new SharedCell(this.kernel, `${device.name} svm converting`, 0, { atomic: true });
    this.foreignCell = new SharedCell(this.kernel, `${device.name} svm foreign invalidations`, 0);
    this.setupTask = new SharedCell<number | null>(this.kernel, `${device.name} svm setup task`, null, { atomic: true });
    this.dmaMapped = new SharedMap(this.kernel, `${device.name} svm dma-mapped`);
    this.notifier = new MmuIntervalNotifier(`${device.name} svm`);
    this.faultsDone = this.kernel.waitQueue(`${device.name} svm faults`);
    this.faultsInFlight = this.kernel.atomic(`${device.name} svm faults in flight`);
    this.vm = device.createVm(mm, { fault: (_vm, f) => this.takeFault(f) });
  }

  /** A device fault, handled while faults are taken (a fault after {@link SvmMirror.stopFaults} fails). */
  async takeFault(f: DeviceFault): Promise<number> {
    if (!this.faultsOpen) return -EFAULT;
    this.faultsInFlight.inc();
    try {
      return await this.fault(f);
    } finally {
      if (this.faultsInFlight.decAndTest()) this.faultsDone.wakeUpAll();
    }
  }

  /** The first step of every `unbind`: no new device fault reaches the driver, and those in flight are done. */
  async stopFaults(): Promise<void> {
    this.faultsOpen = false;
    await this.faultsDone.waitEvent(() => this.faultsInFlight.read() === 0);
  }

  /** See {@link SvmMirror.convertingCell}. */
  get converting(): number {
    return this.convertingCell.get();
  }
  set converting(v: number) {
    this.convertingCell.set(v);
  }

  /** See {@link SvmMirror.foreignCell}. */
  get foreign(): number {
    return this.foreignCell.get();
  }
  set foreign(v: number) {
    this.foreignCell.set(v);
  }

  /** The device address spaces of the binding. */
  get vms(): readonly DeviceVm[] {
    return [this.vm];
  }

  /** The pgmap owner: what `range.owner` and `dev_private_owner` are compared with. */
  get owner(): unknown {
    return this.device.owner;
  }

  /** Classic notifiers registered beside the interval notifier (a release op, nouveau's svmm notifier). */
  classicNotifiers(): readonly MmuNotifier[] {
    return [];
  }

  /** Inserts the interval notifier over the whole address space and registers the classic ones. */
  async open(): Promise<void> {
    const ps = this.kernel.pageSize;
    await mmuIntervalNotifierInsert(this.notifier, this.mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
      invalidate: (mni, range, curSeq) => this.invalidate(mni, range, curSeq),
    });
    for (const n of this.classicNotifiers()) await mmuNotifierRegister(n, this.mm);
  }

  /**
   * Detaches (drm_gpusvm_fini, ib_umem_odp_release): the device's faults stop, then the device
   * memory comes back (its `migrate_to_ram` would reach this mirror after it is gone, as
   * `dmirror_fops_release` evicts since v6.1), every translation goes under `L`, and only then the
   * notifiers: an invalidation before the removal finds nothing mapped, none after it reaches the
   * device.
   */
  async unbind(): Promise<void> {
    await this.stopFaults();
    await this.evict();
    await this.revokeAllAndDetach();
    for (const n of this.classicNotifiers()) if (n.mm !== null) await mmuNotifierUnregister(n, this.mm);
    await mmuIntervalNotifierRemove(this.notifier);
  }

  /**
   * Under `L`: revokes every translation and detaches the mirror from its device VM, which its
   * binding frees when `unbind` returns. A device page that eviction could not move (a fork
   * mapped it meanwhile) may still reach this mirror through `migrate_to_ram`; that path then
   * leaves the VM alone.
   */
  async revokeAllAndDetach(): Promise<void> {
    await this.lock.lock();
    this.revoke(0, ULONG_MAX);
    this.detached = true;
    this.lock.unlock();
  }

  /** True if `range` is this device's own `event` (a migration or exclusive conversion it started; I5 a, b). */
  isOwn(range: MmuNotifierRange, event: MmuNotifierEvent): boolean {
    return range.event === event && range.owner === this.owner;
  }

  /**
   * The interval notifier callback (drm_gpusvm_notifier_invalidate, nouveau_svm_range_invalidate):
   * under `L`, `mmu_interval_set_seq` and the revocation of every translation of the range.
   */
  async invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    if (this.skipsExclusive(range)) return true;
    if (!(await this.lockFor(range))) return false;
    mmuIntervalSetSeq(mni, curSeq);
    if (!this.isOwn(range, MMU_NOTIFY_MIGRATE)) this.foreign++;
    this.invalidateLocked(range);
    this.lock.unlock();
    return true;
  }

  /** With `L` held and the sequence moved: removes what the range takes away (its own kept migrations aside). */
  invalidateLocked(range: MmuNotifierRange): void {
    if (this.policy.ownMigrate === 'keep' && this.isOwn(range, MMU_NOTIFY_MIGRATE)) return;
    this.revoke(range.start, range.end);
  }

  /** True if the callback returns at once for `range`: its own exclusive conversion (see {@link SvmPolicy.skipOwnExclusive}). */
  skipsExclusive(range: MmuNotifierRange): boolean {
    const p = this.policy.skipOwnExclusive;
    return p !== 'never' && this.isOwn(range, MMU_NOTIFY_EXCLUSIVE) && (p === 'always' || this.converting > 0);
  }

  /** Takes `L` for a callback: sleeping when the range is blockable, by trylock otherwise (false: give up). */
  async lockFor(range: MmuNotifierRange): Promise<boolean> {
    if (mmuNotifierRangeBlockable(range)) {
      await this.lock.lock();
      return true;
    }
    return this.lock.tryLock();
  }

  /**
   * With `L` held: marks dirty the system pages the device could write, clears the device entries
   * of `[start, end)`, flushes the TLB and waits, and unmaps DMA (nothing once detached).
   */
  revoke(start: number, end: number): void {
    if (this.detached) return;
    this.vm.dirtyWritable(start, end);
    this.vm.clearRange(start, end);
    this.vm.flushTlb(start, end);
    this.dmaUnmapRange(start, end);
  }

  /** With `L` held: removes the DMA mappings of `[start, end)`. */
  dmaUnmapRange(start: number, end: number): void {
    const ps = this.kernel.pageSize;
    for (const [vpn, page] of this.dmaMapped.entries()) {
      if (vpn * ps < start || vpn * ps >= end) continue;
      this.device.dmaUnmap(page);
      this.dmaMapped.delete(vpn);
    }
  }

  /**
   * The process is gone: its device work is torn down (kfd_process_notifier_release destroys its
   * queues). Every translation goes, later accesses fail, and work waiting on stopped queues runs
   * into that failure.
   */
  async destroyQueues(): Promise<void> {
    await this.lock.lock();
    this.revoke(0, ULONG_MAX);
    this.device.faultMode = 'fatal';
    this.device.resume();
    this.lock.unlock();
  }

  /** The device missed a translation: fault it in (or, for an atomic on an exclusive-atomics device, take the page). */
  fault(f: DeviceFault): Promise<number> {
    const ps = this.kernel.pageSize;
    const va = f.va - (f.va % ps);
    if (f.kind === 'atomic' && this.device.atomics === 'exclusive') return svmExclusiveFault(this, va);
    return this.faultRange(va, va + ps, f.kind !== 'read');
  }

  /** The `hmm_range` of a device fault (drm_gpusvm_range_get_pages): own device-private pages come back as they are. */
  rangeFor(start: number, end: number, write: boolean): HmmRange {
    return {
      notifier: this.notifier,
      notifierSeq: 0,
      start,
      end,
      hmmPfns: new Array<number>((end - start) / this.kernel.pageSize).fill(0),
      defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
      pfnFlagsMask: 0,
      devPrivateOwner: this.owner,
    };
  }

  /** The canonical fault loop: read_begin → `hmm_range_fault` → `L` → read_retry → {@link SvmMirror.commit}. */
  faultRange(start: number, end: number, write: boolean): Promise<number> {
    const range = this.rangeFor(start, end, write);
    return this.faultLoop(range, () => this.commit({ range, write }));
  }

  /** `hmmRangeFaultLoop` over `range` with `L` as the lock; `commit` runs under it with the sequence valid. */
  faultLoop(range: HmmRange, commit: () => number): Promise<number> {
    return hmmRangeFaultLoop({ mm: this.mm, range, lock: () => this.lock.lock(), unlock: () => this.lock.unlock(), commit });
  }

  /** With `L` held and the sequence still valid: programs the device entries of the range. */
  commit(c: SvmCommit): number {
    const ps = this.kernel.pageSize;
    for (let i = 0, va = c.range.start; va < c.range.end; i++, va += ps) {
      const e = c.range.hmmPfns[i] as number;
      if ((e & HMM_PFN_VALID) === 0) continue;
      const writable = (e & HMM_PFN_WRITE) !== 0;
      // A write fault may get a read-only own device-private page: fail rather than map it writable.
      if (c.write && !writable) return -EFAULT;
      const page = hmmPfnToPage(this.kernel, e);
      if (this.policy.dma && !page.isZoneDevice) this.dmaMapPage(va, page, writable);
      this.vm.setPte(va, page, { write: writable });
    }
    return 0;
  }

  /** With `L` held: DMA-maps the system page the device will reach `va` through (`dma_map_page`). */
  dmaMapPage(va: number, page: Page, write: boolean): void {
    const vpn = Math.floor(va / this.kernel.pageSize);
    const old = this.dmaMapped.get(vpn);
    if (old === page) return;
    if (old !== undefined) this.device.dmaUnmap(old);
    this.device.dmaMap(page, write);
    this.dmaMapped.set(vpn, page);
  }

  /** Fault `[start, end)` into the device ahead of any access. */
  prefetch(start: number, end: number, write: boolean): Promise<number> {
    return this.faultRange(start, end, write);
  }

  /** Migrates `[start, end)` to device memory (see svm-migrate.ts). */
  migrateToDevice(start: number, end: number): Promise<number> {
    return svmMigrateToDevice(this, start, end);
  }

  /** Migrates this device's pages of `[start, end)` back to system memory. */
  migrateToRam(start: number, end: number): Promise<number> {
    return svmMigrateToRam(this, start, end);
  }

  /** The pgmap's `migrate_to_ram`: the CPU touched one of this device's private pages. */
  cpuFaultToRam(vmf: VmFault): Promise<number> {
    return svmToRam(this, vmf);
  }

  /**
   * With `L` held: revokes this device's translations of the pages a migration is about to copy,
   * as the MIGRATE invalidation it keeps would have (nouveau_dmem_migrate_to_ram calls
   * nouveau_svmm_invalidate under svmm->mutex). `caller` says which path asks.
   */
  revokeMigrating(start: number, end: number, _caller: ToRamCaller | 'to-device'): void {
    this.revoke(start, end);
  }

  /** With `L` held: a migration path has finished (after `migrate_vma_finalize`). */
  migrated(_caller: ToRamCaller | 'to-device'): void {}

  /**
   * True if a migration path holds `L` from before `migrate_vma_setup` to the end (NVIDIA UVM's
   * block lock); then the callback must not take `L` for that migration's own MIGRATE.
   */
  lockAcross(_caller: ToRamCaller | 'to-device'): boolean {
    return false;
  }

  /**
   * The task that is inside `migrate_vma_setup` holding `L` (when `lockAcross`), or null: UVM's
   * `uvm_thread_context()->ignore_hmm_invalidate_va_block`, set around the call by
   * `migrate_vma_setup_locked` (uvm_hmm.c). The mirror may ignore every invalidation that task
   * raises meanwhile, such as the `MMU_NOTIFY_CLEAR` of `try_to_migrate_one`. UVM keeps it per
   * thread; here it is one cell that callbacks of any task read without `L`, so its accesses are
   * marked (`READ_ONCE`/`WRITE_ONCE`): a callback of another task never finds its own id in it.
   */
  readonly setupTask: SharedCell<number | null>;

  /** Evicts all of the device memory to system memory (device removal, memory pressure). */
  evict(): Promise<number> {
    return svmEvict(this);
  }

  /** `device-exclusive` access for atomics on `[start, end)`. */
  async makeExclusive(start: number, end: number): Promise<number> {
    if (this.device.atomics !== 'exclusive') return 0;
    for (let va = start; va < end; va += this.kernel.pageSize) {
      const r = await svmExclusiveFault(this, va);
      if (r !== 0) return r;
    }
    return 0;
  }

  /** Maps a page the device now holds exclusively, if `seq` still holds (svm-exclusive.ts). */
  mapExclusive(va: number, page: Page, seq: number): Promise<boolean> {
    return svmMapExclusive(this, va, page, seq);
  }

  /** Unlocks and puts the page `make_device_exclusive` returned. */
  releaseExclusive(page: Page): void {
    svmReleaseExclusive(this, page);
  }

  toString(): string {
    return this.notifier.name;
  }
}
