/**
 * dmirror-fixed: examples/dmirror with its races fixed, for the current kernel (profile
 * `latest`). test_hmm has them; they are the kernel's own (see docs/findings/):
 *
 * 1. A1: dmirror skips its own `MMU_NOTIFY_MIGRATE` invalidation. That is safe for its
 *    device-private pages (`dmirror_devmem_fault_alloc_and_copy` erases their entries before
 *    copying) but not for the system pages a sys→dev migration copies: their mirror entries stay
 *    writable until `dmirror_migrate_finalize_and_map` replaces them, so a device write in between
 *    lands in a page that was already copied. The fix revokes them first, as the skipped
 *    invalidation would have: every page a compound entry (a THP migrated whole) stands for, not
 *    only the first, whose entry alone carries `MIGRATE_PFN_MIGRATE`.
 * 2. The callback skips its own MIGRATE without `mmu_interval_set_seq`, so the fault path
 *    (`dmirror_range_fault`) cannot see a migration: a fault that read a pfn just before it installs
 *    that pfn after it moved, even freed. The fix still skips the erase (the legal part of the skip)
 *    but bumps the sequence, so concurrent faults retry.
 * 3. `dmirror_migrate_finalize_and_map` maps the new pages with no check at all. `migrate_vma_*`
 *    runs under the mmap read lock, which `MADV_DONTNEED` takes too: its zap can clear a migration
 *    entry after its callback ran, and the mirror then maps a page the CPU no longer maps. The fix
 *    counts the invalidations that are not its own migrations and maps only if none came between
 *    `migrate_vma_setup` and the mapping. (The interval sequence cannot tell: its own MIGRATE now
 *    moves it too.)
 * 4. `dmirror_exclusive` stores the ATOMIC entry with no sequence check either, so a CPU access
 *    that revokes the exclusive entry in between is missed. The fix passes its own owner to
 *    `make_device_exclusive`, skips that `MMU_NOTIFY_EXCLUSIVE` in its callback (as nouveau does,
 *    so its own conversion does not invalidate its sequence), and maps under the mutex only if the
 *    sequence is unchanged, retrying the page otherwise.
 * 5. `dmirror_fops_release` removes the notifier, evicts the device's chunks and frees the mirror
 *    (`xa_destroy`, `kfree`). A CPU fault on one of its device pages that is already in
 *    `dmirror_devmem_fault` holds that page locked, so `migrate_device_range` skips it, and the
 *    fault then erases the entry from the freed table (`dmirror_devmem_fault_alloc_and_copy` reaches
 *    the mirror through the page's `zone_device_data`). The fix evicts again until no live device
 *    page points to the mirror, so the last such fault is done with it before it is freed.
 * 6. `dmirror_devmem_fault_alloc_and_copy`, the copy step of the migrations back to system memory
 *    (the CPU fault on a device page, `HMM_DMIRROR_MIGRATE_TO_SYS`), erases each mirror entry with
 *    `xa_erase` just before copying its page, without `dmirror->mutex`. `dmirror_do_write` holds
 *    only that mutex between its `xa_load` of an entry and the `memcpy` into the page, so a write
 *    that loaded the entry of a device page before the erase can store into it after the copy:
 *    the write is lost when the migration completes. The fix revokes the entries of the pages
 *    that migrate under the mutex before the copy, as fix 1 does for the other direction.
 * 7. `dmirror_do_update` erases the entries of pages the device may have written (through
 *    `dmirror_do_write`'s `memcpy` into the page) without marking them dirty. A device's write
 *    leaves the CPU entry clean, so after `MADV_FREE` reclaim takes the page for clean and discards
 *    it with the device's data (mm/rmap.c, `try_to_unmap_one`, "MADV_FREE page check", which looks
 *    at the folio's dirty flag once the callbacks ran). The fix marks the system page of every
 *    writable entry it erases dirty (`set_page_dirty`), as `ib_umem_odp_unmap_dma_pages` does.
 *
 * Everything else is examples/dmirror, imported.
 */
import {
  EAGAIN,
  HPAGE_PMD_NR,
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  type MigrateVma,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  type MmuIntervalNotifier,
  type MmuNotifierRange,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  type Page,
  ULONG_MAX,
  yieldPoint,
} from '@hmmlab/core';
import { defineDriver, faultInUserPage, SharedCell } from '@hmmlab/harness';
import { DMIRROR_COMMANDS, Dmirror } from '../dmirror/dmirror.js';
import { dmirrorMigrateFinalizeAndMapLocked } from '../dmirror/migrate.js';
import { dmirrorProbe } from '../dmirror/probe.js';

/** `struct dmirror` without the races of test_hmm. */
export class DmirrorFixed extends Dmirror {
  /**
   * Invalidations other than its own migrations and exclusive conversions: counted by the callback
   * and read by the migration path, both under the mutex.
   */
  protected readonly foreign = new SharedCell(this.mdevice.kernel, `${this.notifier.name} foreign invalidations`, 0);

  /** `dmirror_interval_invalidate`, with the skips of fixes 2 and 4. */
  override async intervalInvalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    const own = range.owner === this.mdevice;
    // Fix 4: its own exclusive conversion; atomicMap checks the sequence itself (nouveau's N2 skip).
    if (range.event === MMU_NOTIFY_EXCLUSIVE && own) return true;
    if (mmuNotifierRangeBlockable(range)) await this.mutex.lock();
    else if (!this.mutex.tryLock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    // Fix 2: its own migration keeps its entries (the migration path revokes what it copies, fix 1)
    // but still moves the sequence. Anything else erases, and counts for fix 3.
    if (!(range.event === MMU_NOTIFY_MIGRATE && own)) {
      this.foreign.update((n) => n + 1);
      this.doUpdate(range.start, range.end);
    }
    this.mutex.unlock();
    return true;
  }

  /** Fix 7: the system pages of the writable entries it erases are marked dirty first (`set_page_dirty`). */
  override doUpdate(start: number, end: number): void {
    const ps = this.mdevice.kernel.pageSize;
    this.pt.dirtyWritable(start - (start % ps), (Math.floor(end / ps) + 1) * ps);
    super.doUpdate(start, end);
  }

  /**
   * Fixes 1 and 6: under the mutex, revoke the mirror's entries of the pages that migrate, so a
   * device access that looked one up before cannot reach the page after the copy. A compound entry
   * (`MIGRATE_PFN_COMPOUND`) stands for the whole huge page, the entries after it (0) included.
   */
  private async revokeBeforeCopy(args: MigrateVma): Promise<void> {
    const ps = this.mdevice.kernel.pageSize;
    await this.mutex.lock();
    for (let i = 0, addr = args.start; addr < args.end; i++, addr += ps) {
      const s = args.src[i] as number;
      if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
      const nr = (s & MIGRATE_PFN_COMPOUND) !== 0 ? Math.min(HPAGE_PMD_NR, (args.end - addr) / ps) : 1;
      for (let j = 0; j < nr; j++) this.pt.clearPte(addr + j * ps, 'revoke before copy');
      i += nr - 1;
      addr += (nr - 1) * ps;
    }
    this.mutex.unlock();
  }

  /** Fix 1: revoke the mirror's own entries of the pages that migrate to the device before the copy. */
  override async migrateAllocAndCopy(args: MigrateVma): Promise<void> {
    await this.revokeBeforeCopy(args);
    await super.migrateAllocAndCopy(args);
  }

  /** Fix 6: revoke the mirror's entries of the device pages that migrate back before the copy. */
  override async devmemFaultAllocAndCopy(args: MigrateVma): Promise<number> {
    await this.revokeBeforeCopy(args);
    return super.devmemFaultAllocAndCopy(args);
  }

  /** Fix 3: the count of foreign invalidations before `migrate_vma_setup`… */
  override async migrateChunkStart(): Promise<number | null> {
    // The count first, then read_begin, as a sequence is read before the work it guards. An
    // invalidation whose callback runs after the count changes it, so finalize will not map. One
    // whose callback ran before the count may not have changed the CPU entries yet: read_begin
    // sleeps until it has ended, so migrate_vma_setup collects what it left. The other order
    // misses an invalidation whose callback runs between the two: counted in the snapshot, its
    // zap (MADV_DONTNEED under the mmap read lock) still to come after the collection.
    await this.mutex.lock();
    const token = this.foreign.get();
    this.mutex.unlock();
    await mmuIntervalReadBegin(this.notifier);
    return token;
  }

  /** …unchanged under the mutex when mapping; otherwise the pages are faulted in later. */
  override async migrateFinalizeAndMap(args: MigrateVma, token: number | null): Promise<void> {
    await this.mutex.lock();
    if (token === this.foreign.get()) dmirrorMigrateFinalizeAndMapLocked(args, this);
    this.mutex.unlock();
  }

  /** Fix 4: its own owner on `make_device_exclusive`… */
  override exclusiveOwner(): unknown {
    return this.mdevice;
  }

  /**
   * …whose invalidation the callback skips without `set_seq`, so that a sequence read before the
   * conversion… (The pages are faulted in writable first: an entry an earlier conversion left
   * device-exclusive would be undone inside the read section, by an invalidation without the
   * owner that moves the sequence, and every attempt on that page would fail alike.)
   */
  override async exclusiveStart(start: number, end: number): Promise<number | null> {
    for (let va = start; va < end; va += this.mdevice.kernel.pageSize) if ((await faultInUserPage(this.mm, va, true)) !== 0) break;
    return mmuIntervalReadBegin(this.notifier);
  }

  /** …tells under the mutex whether the page is still exclusive when the ATOMIC entry is stored. */
  override async atomicMap(addr: number, page: Page, seq: number | null): Promise<number> {
    await this.mutex.lock();
    const stale = seq === null || mmuIntervalReadRetry(this.notifier, seq);
    if (!stale) this.pt.setPte(addr, page, { write: false, atomic: true }, 'dmirror_atomic_map');
    this.mutex.unlock();
    return stale ? -EAGAIN : 0;
  }

  /** Fix 5: `dmirror_fops_release`, which frees the table only when no device page leads to it. */
  override async unbind(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await mmuIntervalNotifierRemove(this.notifier);
    await this.mdevice.evictChunk();
    while (this.devicePagesLeft()) {
      await yieldPoint();
      await this.mdevice.evictChunk();
    }
    this.pt.clearRange(0, ULONG_MAX, 'xa_destroy');
  }

  /**
   * Whether a device page in use still points to this mirror (a fault on it may be running). A
   * device page whose struct page the model never made was never handed out (`peek`: looking
   * does not make it).
   */
  private devicePagesLeft(): boolean {
    const pgmap = this.mdevice.device.pgmap;
    if (pgmap === null) return false;
    const pages = this.mdevice.kernel.pages;
    for (let pfn = pgmap.startPfn; pfn < pgmap.startPfn + pgmap.nrPages; pfn++) {
      const p = pages.peek(pfn);
      if (p !== undefined && !p.free && p.zoneDeviceData === this) return true;
    }
    return false;
  }
}

export default defineDriver({
  name: 'dmirror-fixed',
  description: 'lib/test_hmm.c with its races fixed: no A1 hazard, its own migrations visible to its fault path, checks before mapping',
  profiles: ['latest'],
  commands: DMIRROR_COMMANDS,
  // hmm-tests' `hmm2` fixture opens /dev/hmm_dmirror0 and /dev/hmm_dmirror1 in one process.
  bindDevices: 2,
  probe: (kernel) => dmirrorProbe(kernel, DmirrorFixed),
});
