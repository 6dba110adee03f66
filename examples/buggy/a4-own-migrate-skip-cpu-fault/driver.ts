/**
 * A4 ("[PATCH RFC 6/6] drm/amdgpu: integrate VRAM migration into SVM range map path", 2026):
 * the callback skips every `MMU_NOTIFY_MIGRATE` carrying its own owner, on the grounds that the
 * populate path (RAM to VRAM) remaps the GPU itself. The same owner tags the migration a CPU fault
 * starts (`migrate_to_ram`), where nobody updates the GPU mappings: the GPU keeps a translation to
 * a VRAM page that is copied and freed.
 */

import { svmDriver } from '../lib/svm-driver.js';
import type { ToRamCaller } from '../lib/svm-migrate.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class SkipsCpuFaultMigration extends SvmMirror {
  override revokeMigrating(start: number, end: number, caller: ToRamCaller | 'to-device'): void {
    // A4: only the driver's own paths remap; migrate_to_ram leaves the GPU mappings to the
    // notifier, which skipped this MIGRATE because its owner is ours.
    if (caller !== 'cpu-fault') super.revokeMigrating(start, end, caller);
  }
}

export default svmDriver({
  name: 'a4-own-migrate-skip-cpu-fault',
  description: "A4: the own-owner MIGRATE skip also swallows the CPU fault's migrate_to_ram",
  policy: { ownMigrate: 'keep' },
  mirror: SkipsCpuFaultMigration,
});
