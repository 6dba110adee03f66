/**
 * H2 (Documentation/gpu/rfc/gpusvm.rst): a driver-exclusive lock held across `migrate_to_ram`.
 * Before `do_swap_page` locked the faulting page (1afaeb8293c9, ~6.15), every CPU thread faulting
 * on the page held a reference while it waited for that lock, and the thread holding the lock
 * found the page pinned by the waiters' references and gave up: a stable livelock.
 */

import { svmDriver } from '../lib/svm-driver.js';
import { InlineMirror } from '../lib/svm-inline.js';
import type { ToRamCaller } from '../lib/svm-migrate.js';

class LockedMigrateToRam extends InlineMirror {
  /** H2: the CPU fault's `migrate_to_ram` takes the block lock before `migrate_vma_setup` too. */
  override lockAcross(_caller: ToRamCaller | 'to-device'): boolean {
    return true;
  }
}

export default svmDriver({
  name: 'h2-lock-in-migrate-to-ram',
  description: 'H2: a driver-exclusive lock held across migrate_to_ram livelocks CPU threads faulting on one page (before 1afaeb8293c9)',
  profiles: ['6.1'],
  mirror: LockedMigrateToRam,
});
