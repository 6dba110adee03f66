/**
 * dmirror-patched: lib/test_hmm.c with the two patches of docs/findings/patches/ applied, on every
 * profile the port follows. Everything but `dmirror_interval_invalidate` is examples/dmirror.
 *
 * - 0001 makes `dmirror_do_fault` store `BACKING_PAGE(page)` instead of a device-private page
 *   itself, which has no kernel mapping (the kmap of the next READ or WRITE oopses). The port maps
 *   a device page's own contents in every path (examples/dmirror/README.md, "Backing pages"), so
 *   it already behaves as the patched kernel does: nothing to change here.
 * - 0002 drops the early return of `dmirror_interval_invalidate` for its own
 *   `MMU_NOTIFY_MIGRATE`, so a migration to the device erases the mirror's entries of the pages
 *   it copies, and moves the interval sequence, before `dmirror_migrate_alloc_and_copy` runs.
 */
import { type MmuIntervalNotifier, type MmuNotifierRange, mmuIntervalSetSeq, mmuNotifierRangeBlockable } from '@hmmlab/core';
import { defineDriver } from '@hmmlab/harness';
import { Dmirror } from '../dmirror.js';
import { DMIRROR_PROFILES, dmirrorProbe } from '../probe.js';

/** `struct dmirror` with 0002 applied. */
export class DmirrorPatched extends Dmirror {
  /** `dmirror_interval_invalidate` without the own-MIGRATE skip: every event erases and moves the sequence. */
  override async intervalInvalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    if (mmuNotifierRangeBlockable(range)) await this.mutex.lock();
    else if (!this.mutex.tryLock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    this.doUpdate(range.start, range.end);
    this.mutex.unlock();
    return true;
  }
}

export default defineDriver({
  name: 'dmirror-patched',
  description: 'lib/test_hmm.c with docs/findings/patches/ applied: its own migrations invalidate its mirror',
  profiles: DMIRROR_PROFILES,
  probe: (kernel) => dmirrorProbe(kernel, DmirrorPatched),
});
