/**
 * N6 (a permission downgrade is not a revocation): for its own migration to device memory the
 * driver only write-protects its translations of the source pages (and flushes), instead of
 * zapping them: the device may go on reading a page whose contents are being copied, never write
 * it, and the migration path replaces the translations with the new pages before
 * `migrate_vma_finalize` frees the sources. Its device-to-RAM paths zap before copying.
 */
import { MMU_NOTIFY_MIGRATE, type MmuNotifierRange } from '@hmmlab/core';
import { svmDriver } from '../../lib/svm-driver.js';
import type { ToRamCaller } from '../../lib/svm-migrate.js';
import { SvmMirror } from '../../lib/svm-mirror.js';

class DowngradeOwnMigration extends SvmMirror {
  override invalidateLocked(range: MmuNotifierRange): void {
    if (this.isOwn(range, MMU_NOTIFY_MIGRATE)) {
      // N6: read-only for the time of its own migration.
      this.vm.writeProtectRange(range.start, range.end);
      this.vm.flushTlb(range.start, range.end);
      return;
    }
    super.invalidateLocked(range);
  }

  override revokeMigrating(start: number, end: number, caller: ToRamCaller | 'to-device'): void {
    // The sources of a migration to the device stay mapped read-only until the new pages replace them.
    if (caller !== 'to-device') super.revokeMigrating(start, end, caller);
  }
}

export default svmDriver({
  name: 'n6-downgrade-own-migrate',
  description: 'N6: its own migration downgrades translations to read-only instead of zapping them',
  mirror: DowngradeOwnMigration,
});
