/**
 * dmirror-patched: lib/test_hmm.c with the four patches of docs/findings/patches/ applied, on the
 * kernels they were written for (6.1, and the newest tree: profile `latest`). Everything else is
 * examples/dmirror.
 *
 * - 0001 makes `dmirror_do_fault` store `BACKING_PAGE(page)` instead of a device-private page
 *   itself, which has no kernel mapping (the kmap of the next READ or WRITE oopses). The port maps
 *   a device page's own contents in every path (examples/dmirror/README.md, "Backing pages"), so
 *   it already behaves as the patched kernel does: nothing to change here.
 * - 0002 erases, under `dmirror->mutex`, the mirror's entries of the pages a migration to the
 *   device collected before `dmirror_migrate_alloc_and_copy` copies them, and makes
 *   `dmirror_interval_invalidate` move the interval sequence for its own `MMU_NOTIFY_MIGRATE` too
 *   (still without erasing the range: the pages the migration does not move stay mirrored).
 * - 0003 counts, under the mutex, the invalidations other than its own migrations;
 *   `dmirror_migrate_to_device` reads the count before `migrate_vma_setup` (then waits in
 *   `mmu_interval_read_begin` for those in progress), and `dmirror_migrate_finalize_and_map` maps
 *   the new pages only if it is unchanged: a zap under the mmap read lock (`MADV_DONTNEED`, the
 *   OOM reaper) may have removed their CPU entries, and `migrate_vma_finalize` then frees them.
 * - 0004 faults the pages in writable, then reads the interval sequence before
 *   `make_device_exclusive_range` (one page at a time with `make_device_exclusive` on `latest`),
 *   passes its own device as owner, skips that own `MMU_NOTIFY_EXCLUSIVE` without moving the
 *   sequence, and stores the ATOMIC entries only if `mmu_interval_read_retry` under the mutex says
 *   nothing changed; otherwise it maps nothing and `HMM_DMIRROR_EXCLUSIVE` returns `-EBUSY`.
 */
import {
  EBUSY,
  MIGRATE_PFN_MIGRATE,
  type MigrateVma,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  type MmuIntervalNotifier,
  type MmuNotifierRange,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  type Page,
} from '@hmmlab/core';
import { defineDriver, faultInUserPage, SharedCell } from '@hmmlab/harness';
import { Dmirror } from '../dmirror.js';
import { dmirrorAtomicMapRangeLocked } from '../exclusive.js';
import { dmirrorMigrateFinalizeAndMapLocked } from '../migrate.js';
import { dmirrorProbe } from '../probe.js';

/** `struct dmirror` with 0002, 0003 and 0004 applied. */
export class DmirrorPatched extends Dmirror {
  /** `dmirror->invalidations` (0003): every invalidation but its own migrations, under the mutex. */
  private readonly invalidations = new SharedCell(this.mdevice.kernel, `${this.notifier.name} invalidations`, 0);

  /**
   * `dmirror_interval_invalidate`: its own exclusive conversion returns at once (0004); every other
   * event moves the sequence; all but its own MIGRATE count (0003) and erase the range (0002).
   */
  override async intervalInvalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    if (range.event === MMU_NOTIFY_EXCLUSIVE && range.owner === this.mdevice) return true;
    if (mmuNotifierRangeBlockable(range)) await this.mutex.lock();
    else if (!this.mutex.tryLock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    if (range.event !== MMU_NOTIFY_MIGRATE || range.owner !== this.mdevice) {
      this.invalidations.update((n) => n + 1);
      this.doUpdate(range.start, range.end);
    }
    this.mutex.unlock();
    return true;
  }

  /** `dmirror_migrate_alloc_and_copy`, after erasing the entries of the collected pages under the mutex. */
  override async migrateAllocAndCopy(args: MigrateVma): Promise<void> {
    const ps = this.mdevice.kernel.pageSize;
    await this.mutex.lock();
    for (let i = 0, addr = args.start; addr < args.end; i++, addr += ps) {
      if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) this.pt.clearPte(addr, 'xa_erase before copy');
    }
    this.mutex.unlock();
    await super.migrateAllocAndCopy(args);
  }

  /** 0003, in `dmirror_migrate_to_device` before `migrate_vma_setup`: the count, then `mmu_interval_read_begin`. */
  override async migrateChunkStart(): Promise<number | null> {
    await this.mutex.lock();
    const invalidations = this.invalidations.get();
    this.mutex.unlock();
    await mmuIntervalReadBegin(this.notifier);
    return invalidations;
  }

  /** `dmirror_migrate_finalize_and_map` with 0003: nothing is mapped if the count moved. */
  override async migrateFinalizeAndMap(args: MigrateVma, invalidations: number | null): Promise<void> {
    await this.mutex.lock();
    if (this.invalidations.get() === invalidations) dmirrorMigrateFinalizeAndMapLocked(args, this);
    this.mutex.unlock();
  }

  /** 0004: its own device as the owner of `make_device_exclusive_range`… */
  override exclusiveOwner(): unknown {
    return this.mdevice;
  }

  /**
   * …the sequence read before it, once the pages are faulted in writable
   * (`get_user_pages_remote(…, FOLL_WRITE, NULL, …)`): a page still device-exclusive from an
   * earlier call would otherwise be restored by the GUP inside the conversion, under an
   * `MMU_NOTIFY_EXCLUSIVE` without an owner that moves the sequence, and every later call on it
   * would return `-EBUSY`…
   */
  override async exclusiveStart(start: number, end: number): Promise<number | null> {
    for (let va = start; va < end; va += this.mdevice.kernel.pageSize) if ((await faultInUserPage(this.mm, va, true)) !== 0) break;
    return mmuIntervalReadBegin(this.notifier);
  }

  /** …and checked under the mutex by `dmirror_atomic_map` (6.1: all pages of the chunk or none). */
  override async atomicMapRange(start: number, end: number, pages: (Page | null)[], seq: number | null): Promise<number> {
    await this.mutex.lock();
    const stale = seq === null || mmuIntervalReadRetry(this.notifier, seq);
    const mapped = stale ? 0 : dmirrorAtomicMapRangeLocked(start, end, pages, this);
    this.mutex.unlock();
    return mapped;
  }

  /** `dmirror_atomic_map` of one page (`latest`): `-EBUSY`, not a retry, when the sequence moved. */
  override async atomicMap(addr: number, page: Page, seq: number | null): Promise<number> {
    await this.mutex.lock();
    const stale = seq === null || mmuIntervalReadRetry(this.notifier, seq);
    if (!stale) this.pt.setPte(addr, page, { write: false, atomic: true }, 'dmirror_atomic_map');
    this.mutex.unlock();
    return stale ? -EBUSY : 0;
  }
}

export default defineDriver({
  name: 'dmirror-patched',
  description: 'lib/test_hmm.c with docs/findings/patches/ applied: no A1 copy of a page its mirror still maps',
  profiles: ['6.1', 'latest'],
  probe: (kernel) => dmirrorProbe(kernel, DmirrorPatched),
});
