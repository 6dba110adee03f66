/**
 * dmirror-patched: lib/test_hmm.c with the two patches of docs/findings/patches/ applied, on the
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
 */
import {
  MIGRATE_PFN_MIGRATE,
  type MigrateVma,
  MMU_NOTIFY_MIGRATE,
  type MmuIntervalNotifier,
  type MmuNotifierRange,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
} from '@hmmlab/core';
import { defineDriver } from '@hmmlab/harness';
import { Dmirror } from '../dmirror.js';
import { dmirrorProbe } from '../probe.js';

/** `struct dmirror` with 0002 applied. */
class DmirrorPatched extends Dmirror {
  /** `dmirror_interval_invalidate`: every event moves the sequence; all but its own MIGRATE erase the range. */
  override async intervalInvalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    if (mmuNotifierRangeBlockable(range)) await this.mutex.lock();
    else if (!this.mutex.tryLock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    if (range.event !== MMU_NOTIFY_MIGRATE || range.owner !== this.mdevice) this.doUpdate(range.start, range.end);
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
}

export default defineDriver({
  name: 'dmirror-patched',
  description: 'lib/test_hmm.c with docs/findings/patches/ applied: no A1 copy of a page its mirror still maps',
  profiles: ['6.1', 'latest'],
  probe: (kernel) => dmirrorProbe(kernel, DmirrorPatched),
});
