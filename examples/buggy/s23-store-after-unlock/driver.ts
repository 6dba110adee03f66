/**
 * S23 (synthetic): test_hmm's migration to the device with its races fixed (dmirror-fixed), but
 * the entries of the migrated pages stored after the mutex is dropped. The decision is taken under
 * the mutex the invalidation callback holds (no invalidation of another kind since the migration
 * began), the store is not: an invalidation on another CPU between the unlock and the store finds
 * nothing to erase, and the store then mirrors a page the CPU has let go. test_hmm.c's
 * `dmirror_migrate_finalize_and_map` stores them under `dmirror->mutex`; Documentation/mm/hmm.rst
 * asks the same of every device page-table update (`take_lock(driver->update)`, then
 * `mmu_interval_read_retry`, then the update, then `release_lock`).
 */
import type { MigrateVma } from '@hmmlab/core';
import { defineDriver } from '@hmmlab/harness';
import { DMIRROR_COMMANDS } from '../../dmirror/dmirror.js';
import { dmirrorMigrateFinalizeAndMapLocked } from '../../dmirror/migrate.js';
import { dmirrorProbe } from '../../dmirror/probe.js';
import { DmirrorFixed } from '../../dmirror-fixed/driver.js';

class StoreAfterUnlock extends DmirrorFixed {
  override async migrateFinalizeAndMap(args: MigrateVma, token: number | null): Promise<void> {
    await this.mutex.lock();
    const unchanged = token === this.foreign.get();
    this.mutex.unlock();
    // S23: the entries are stored after the mutex is dropped.
    if (unchanged) dmirrorMigrateFinalizeAndMapLocked(args, this);
  }
}

export default defineDriver({
  name: 's23-store-after-unlock',
  description: 'S23: the migration decides under the mutex and stores the device entries after dropping it',
  profiles: ['latest'],
  commands: DMIRROR_COMMANDS,
  bindDevices: 2,
  probe: (kernel) => dmirrorProbe(kernel, StoreAfterUnlock),
});
