/**
 * `struct dmirror` (lib/test_hmm.c): one open /dev/hmm_dmirrorN mirroring the address space of
 * the process that opened it, through an interval notifier over the whole address space. The
 * mirror table `dmirror->pt` is a {@link DeviceVm}: `DEV_PTE_WRITE` stands for
 * `DPT_XA_TAG_WRITE`, `DEV_PTE_ATOMIC` for `DPT_XA_TAG_ATOMIC`. This file holds the struct, its
 * invalidate callback and the ioctl switch; the C functions behind each command live in
 * rw.ts, fault.ts, migrate.ts, devmem.ts, snapshot.ts and exclusive.ts.
 */
import {
  EFAULT,
  EINVAL,
  HmmlabError,
  MAP_FIXED,
  MAP_PRIVATE,
  type MigrateVma,
  MMU_NOTIFY_MIGRATE,
  type Mm,
  MmuIntervalNotifier,
  type MmuNotifierRange,
  type ModelFile,
  type Mutex,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  type Page,
  PROT_READ,
  PROT_WRITE,
  ULONG_MAX,
} from '@hmmlab/core';
import type { Binding, DeviceFault, DeviceVm } from '@hmmlab/harness';
import type { DmirrorDevice } from './device.js';
import { dmirrorDevmemFaultAllocAndCopy } from './devmem.js';
import type { DmirrorEra } from './era.js';
import { dmirrorAtomicMap, dmirrorAtomicMapRange, dmirrorCheckAtomic, dmirrorExclusive } from './exclusive.js';
import { dmirrorFault } from './fault.js';
import { dmirrorMigrateAllocAndCopy, dmirrorMigrateFinalizeAndMap, dmirrorMigrateToDevice, dmirrorMigrateToSystem } from './migrate.js';
import { dmirrorFopsMmap } from './mmap.js';
import { dmirrorBounceInit, dmirrorRead, dmirrorWrite, type HmmDmirrorCmd } from './rw.js';
import { dmirrorSnapshot } from './snapshot.js';
import {
  HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_EXCLUSIVE,
  HMM_DMIRROR_FLAGS,
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
  type HmmDmirrorCmdArgs,
  type HmmDmirrorCmdResult,
} from './uapi.js';

/**
 * The commands of a dmirror binding beyond its actions (`Binding.command`): `check-exclusive` is
 * `HMM_DMIRROR_CHECK_EXCLUSIVE` of the range; `mmap` maps the device file over the range
 * (`MAP_FIXED | MAP_PRIVATE`, through `dmirror_fops_mmap`), as hmm-tests' `mixedmap` maps it;
 * `snapshot` is `HMM_DMIRROR_SNAPSHOT` of the range (`hmm_range_fault` without faulting, under an
 * interval notifier of its own that it removes again), as hmm-tests' snapshot cases run it.
 */
export const DMIRROR_COMMANDS: readonly string[] = ['check-exclusive', 'mmap', 'snapshot'];

/** `struct dmirror`. Subclass it to change one of its C functions (see examples/dmirror-fixed). */
export class Dmirror implements Binding {
  readonly mdevice: DmirrorDevice;
  /** `dmirror->notifier.mm`. */
  readonly mm: Mm;
  /** `dmirror->notifier`, over `[0, ULONG_MAX & PAGE_MASK)`. */
  readonly notifier: MmuIntervalNotifier;
  /** `dmirror->mutex`: the lock around `mmu_interval_set_seq` and `mmu_interval_read_retry`. */
  readonly mutex: Mutex;
  /** `dmirror->pt`. */
  readonly pt: DeviceVm;
  /** `dmirror->flags` (`HMM_DMIRROR_FLAG_*`). */
  flags = 0;
  /** The open file: `mm.mmap(…, dmirror.file, 0)` maps it through `dmirror_fops_mmap`. */
  readonly file: ModelFile;
  protected closed = false;

  constructor(mdevice: DmirrorDevice, mm: Mm) {
    const k = mdevice.kernel;
    this.mdevice = mdevice;
    this.mm = mm;
    this.notifier = new MmuIntervalNotifier(`${mdevice.device.name} dmirror (mm ${mm.id})`);
    this.mutex = k.mutex(`${mdevice.device.name} dmirror mutex (mm ${mm.id})`);
    this.pt = mdevice.device.createVm(mm, { fault: (_vm, f) => this.deviceFault(f) });
    // `dmirror->pt` is an XArray: every store and erase takes its xa_lock.
    this.pt.atomicEntries = true;
    this.file = k.createFile(`/dev/hmm_dmirror${mdevice.id}`, { mmap: (vma) => dmirrorFopsMmap(vma) });
  }

  /** The era of lib/test_hmm.c this dmirror follows. */
  get era(): DmirrorEra {
    return this.mdevice.era;
  }

  /** The device's reads and writes are `dmirror_read`/`dmirror_write` ioctls of this file. */
  readonly accessesAreSyscalls = true;

  /** The device address spaces of this binding: the mirror table. */
  get vms(): readonly DeviceVm[] {
    return [this.pt];
  }

  /** `dmirror_fops_open`, after the allocation: returns 0 or the insert's errno. */
  open(): Promise<number> {
    const ps = this.mdevice.kernel.pageSize;
    return mmuIntervalNotifierInsert(this.notifier, this.mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
      invalidate: (mni, range, curSeq) => this.intervalInvalidate(mni, range, curSeq),
    });
  }

  /** `dmirror_fops_release`. Since v6.1 closing also evicts every chunk of the device. */
  async unbind(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await mmuIntervalNotifierRemove(this.notifier);
    if (this.era.deviceRange) await this.mdevice.evictChunk();
    this.pt.clearRange(0, ULONG_MAX, 'xa_destroy');
  }

  /** The owner a range carries in this era's field (`owner`, or `migrate_pgmap_owner` in 5.9–5.13). */
  private rangeOwner(range: MmuNotifierRange): unknown {
    return this.era.ownerField === 'owner'
      ? range.owner
      : this.era.ownerField === 'migratePgmapOwner'
        ? range.migratePgmapOwner
        : undefined;
  }

  /** `dmirror_interval_invalidate`. */
  async intervalInvalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    // Ignore invalidation callbacks for device private pages since the invalidation is handled
    // as part of the migration process (v5.9+; the v5.8 driver had no such filter).
    if (this.era.ownerFilter && range.event === MMU_NOTIFY_MIGRATE && this.rangeOwner(range) === this.mdevice) return true;
    if (mmuNotifierRangeBlockable(range)) await this.mutex.lock();
    else if (!this.mutex.tryLock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    this.doUpdate(range.start, range.end);
    this.mutex.unlock();
    return true;
  }

  /**
   * `dmirror_do_update`: erases the entries of page indices `start >> PAGE_SHIFT` to
   * `end >> PAGE_SHIFT`. `xa_for_each_range` includes its last index, so the page at `end` goes
   * too, one more than the range, as in the kernel.
   */
  doUpdate(start: number, end: number): void {
    const ps = this.mdevice.kernel.pageSize;
    this.pt.clearRange(start - (start % ps), (Math.floor(end / ps) + 1) * ps, 'dmirror_do_update');
  }

  /**
   * `dmirror_migrate_alloc_and_copy`, called by the sys→dev migration between
   * `migrate_vma_setup` and `migrate_vma_pages`. Override it to change that step.
   */
  migrateAllocAndCopy(args: MigrateVma): Promise<void> {
    return dmirrorMigrateAllocAndCopy(args, this);
  }

  /**
   * `dmirror_devmem_fault_alloc_and_copy`, called by the dev→sys migrations (the CPU fault on a
   * device page and `HMM_DMIRROR_MIGRATE_TO_SYS`) between `migrate_vma_setup` and
   * `migrate_vma_pages`: 0 or a `VM_FAULT_*` code. Override it to change that step.
   */
  devmemFaultAllocAndCopy(args: MigrateVma): Promise<number> {
    return dmirrorDevmemFaultAllocAndCopy(args, this);
  }

  /**
   * Called before `migrate_vma_setup` of each sys→dev chunk; what it returns is handed to
   * {@link Dmirror.migrateFinalizeAndMap}. test_hmm does nothing here.
   */
  migrateChunkStart(): Promise<number | null> {
    return Promise.resolve(null);
  }

  /** `dmirror_migrate_finalize_and_map`. Override it to change that step. */
  migrateFinalizeAndMap(args: MigrateVma, _token: number | null): Promise<void> {
    return dmirrorMigrateFinalizeAndMap(args, this);
  }

  /** The owner `dmirror_exclusive` passes to `make_device_exclusive`: NULL in test_hmm. */
  exclusiveOwner(): unknown {
    return null;
  }

  /**
   * Called before each `make_device_exclusive` (or `make_device_exclusive_range`) of `[start,
   * end)`, with the mmap read lock held; handed to {@link Dmirror.atomicMap} (or
   * {@link Dmirror.atomicMapRange}). test_hmm does nothing here.
   */
  exclusiveStart(_start: number, _end: number): Promise<number | null> {
    return Promise.resolve(null);
  }

  /** `dmirror_atomic_map` of one page: 0, `-EAGAIN` to retry the page, or another negative errno. */
  atomicMap(addr: number, page: Page, _token: number | null): Promise<number> {
    return dmirrorAtomicMap(addr, page, this);
  }

  /** `dmirror_atomic_map` of the 5.14–6.13 driver: how many of `pages` it mapped. */
  atomicMapRange(start: number, end: number, pages: (Page | null)[], _token: number | null): Promise<number> {
    return dmirrorAtomicMapRange(start, end, pages, this);
  }

  /** A device access missed: fault the page in as the READ/WRITE ioctls do, or take it exclusively for an atomic. */
  private async deviceFault(f: DeviceFault): Promise<number> {
    // dmirror_fault returns 0 once the mm is gone; a device replaying on that would spin.
    if (this.mm.users <= 0) return -EFAULT;
    const ps = this.mdevice.kernel.pageSize;
    const start = f.va - (f.va % ps);
    if (f.kind === 'atomic')
      return (await this.cmd(HMM_DMIRROR_EXCLUSIVE, { addr: start, npages: 1, ptr: dmirrorBounceInit(this, start, 1).ptr })).ret;
    return dmirrorFault(this, start, start + ps, f.kind === 'write');
  }

  /**
   * `dmirror_fops_unlocked_ioctl`: runs one command. Call it from a task. `addr` must be page
   * aligned and `npages` positive (else `-EINVAL`); commands the era lacks return `-EINVAL`.
   */
  async cmd(request: number, args: HmmDmirrorCmdArgs): Promise<HmmDmirrorCmdResult> {
    const k = this.mdevice.kernel;
    const ps = k.pageSize;
    const { addr, npages, ptr } = args;
    if (!Number.isInteger(addr) || addr < 0 || !Number.isInteger(npages) || npages < 0) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `hmm_dmirror_cmd: addr ${String(addr)} and npages ${String(npages)} must be non-negative integers`,
      );
    }
    if (this.closed) throw new HmmlabError('ERR_STATE', `hmm_dmirror_cmd: ${this.notifier.name} is closed (-EBADF)`);
    const cmd: HmmDmirrorCmd = { addr, ptr, npages, cpages: 0, faults: 0 };
    if (addr % ps !== 0 || npages === 0 || addr + npages * ps > ULONG_MAX) return { ret: -EINVAL, cpages: 0, faults: 0 };
    const era = this.era;
    let ret: number;
    switch (request) {
      case HMM_DMIRROR_READ:
        ret = await dmirrorRead(this, cmd);
        break;
      case HMM_DMIRROR_WRITE:
        ret = await dmirrorWrite(this, cmd);
        break;
      case HMM_DMIRROR_MIGRATE_TO_DEV:
        ret = await dmirrorMigrateToDevice(this, cmd);
        break;
      case HMM_DMIRROR_MIGRATE_TO_SYS:
        ret = era.migrateToSys ? await dmirrorMigrateToSystem(this, cmd) : -EINVAL;
        break;
      case HMM_DMIRROR_EXCLUSIVE:
        ret = era.exclusive !== null ? await dmirrorExclusive(this, cmd) : -EINVAL;
        break;
      case HMM_DMIRROR_CHECK_EXCLUSIVE:
        ret = era.exclusive !== null ? dmirrorCheckAtomic(this, addr, addr + npages * ps) : -EINVAL;
        break;
      case HMM_DMIRROR_SNAPSHOT:
        ret = await dmirrorSnapshot(this, cmd);
        break;
      case HMM_DMIRROR_RELEASE:
        if (era.deviceRange) await this.mdevice.removeChunks();
        ret = era.deviceRange ? 0 : -EINVAL;
        break;
      case HMM_DMIRROR_FLAGS:
        if (era.flagsIoctl) this.flags = npages;
        ret = era.flagsIoctl ? 0 : -EINVAL;
        break;
      default:
        ret = -EINVAL;
    }
    return { ret, cpages: cmd.cpages, faults: cmd.faults };
  }

  private async pagesCmd(request: number, start: number, end: number): Promise<number> {
    const npages = Math.floor((end - start) / this.mdevice.kernel.pageSize);
    return (await this.cmd(request, { addr: start, npages, ptr: dmirrorBounceInit(this, start, npages).ptr })).ret;
  }

  /** `HMM_DMIRROR_READ` of `[start, end)`: the device reads the pages into a user buffer. */
  readRange(start: number, end: number): Promise<number> {
    return this.pagesCmd(HMM_DMIRROR_READ, start, end);
  }

  /** `HMM_DMIRROR_WRITE` of `[start, end)` from a user buffer holding `value` in every word. */
  async writeRange(start: number, end: number, value: number): Promise<number> {
    const npages = Math.floor((end - start) / this.mdevice.kernel.pageSize);
    const ptr = new Int32Array(npages * this.mdevice.kernel.wordsPerPage).fill(value);
    return (await this.cmd(HMM_DMIRROR_WRITE, { addr: start, npages, ptr })).ret;
  }

  /** `HMM_DMIRROR_MIGRATE_TO_DEV` of `[start, end)`. */
  migrateToDevice(start: number, end: number): Promise<number> {
    return this.pagesCmd(HMM_DMIRROR_MIGRATE_TO_DEV, start, end);
  }

  /** `HMM_DMIRROR_MIGRATE_TO_SYS` of `[start, end)` (`-EINVAL` before v6.0). */
  migrateToRam(start: number, end: number): Promise<number> {
    return this.pagesCmd(HMM_DMIRROR_MIGRATE_TO_SYS, start, end);
  }

  /** `HMM_DMIRROR_RELEASE` (`-EINVAL` before v6.1). */
  evict(): Promise<number> {
    return this.pagesCmd(HMM_DMIRROR_RELEASE, 0, this.mdevice.kernel.pageSize);
  }

  /** `HMM_DMIRROR_EXCLUSIVE` of `[start, end)` (`-EINVAL` before v5.14). */
  makeExclusive(start: number, end: number): Promise<number> {
    return this.pagesCmd(HMM_DMIRROR_EXCLUSIVE, start, end);
  }

  /** Runs one of {@link DMIRROR_COMMANDS} over `[start, end)`. */
  async command(name: string, start: number, end: number): Promise<number> {
    if (name === 'check-exclusive') return this.pagesCmd(HMM_DMIRROR_CHECK_EXCLUSIVE, start, end);
    if (name === 'snapshot') return this.pagesCmd(HMM_DMIRROR_SNAPSHOT, start, end);
    if (name === 'mmap') {
      const r = await this.mm.mmap(start, end - start, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE, this.file, 0);
      return Math.min(r, 0);
    }
    throw new HmmlabError('ERR_BAD_ARGUMENT', `dmirror: unknown command "${name}"; expected one of ${DMIRROR_COMMANDS.join(', ')}`);
  }

  /** The fault step of `HMM_DMIRROR_READ` / `HMM_DMIRROR_WRITE` (`dmirror_fault`), without the copy. */
  prefetch(start: number, end: number, write: boolean): Promise<number> {
    const ps = this.mdevice.kernel.pageSize;
    if (start % ps !== 0 || end <= start) return Promise.resolve(-EINVAL);
    return dmirrorFault(this, start, end, write);
  }

  toString(): string {
    return this.notifier.name;
  }
}
