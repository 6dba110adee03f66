/**
 * S2 (synthetic, A1 generalized): the driver skips its own `MMU_NOTIFY_MIGRATE` (legal on its
 * own) but its system-to-device copy path does not revoke the device's translations of the source
 * pages first. A device write after the copy lands in the old page and is lost.
 */

import { svmDriver } from '../lib/svm-driver.js';
import type { ToRamCaller } from '../lib/svm-migrate.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class CopyUnrevoked extends SvmMirror {
  override revokeMigrating(start: number, end: number, caller: ToRamCaller | 'to-device'): void {
    // S2: the device-to-RAM paths revoke before copying; the RAM-to-device copy does not.
    if (caller !== 'to-device') super.revokeMigrating(start, end, caller);
  }
}

export default svmDriver({
  name: 's2-migrate-copy-unrevoked',
  description: 'S2: own MIGRATE skipped, and the system-to-device copy does not revoke the source translations',
  policy: { ownMigrate: 'keep' },
  mirror: CopyUnrevoked,
});
