/**
 * A2 (Jason Gunthorpe's review of the seed patch, v4: "nobody should read migrate_pgmap_owner
 * unless MMU_NOTIFY_MIGRATE is set as the event"): the callback compares the owner without the
 * event. A nouveau-style device has both device-private memory and atomics that need
 * device-exclusive pages, and one pgmap owner for both: the kernel passes it on the
 * `MMU_NOTIFY_MIGRATE` of the driver's own migrations (mm/migrate_device.c, migrate_vma_collect)
 * and on the `MMU_NOTIFY_EXCLUSIVE` of its own conversions (mm/rmap.c,
 * page_make_device_exclusive_one). The skip meant for the conversions (N2) also returns, without
 * `mmu_interval_set_seq`, from the driver's own migrations, so a device fault racing a migration
 * to device memory commits the page the migration has taken.
 */
import type { MmuNotifierEvent, MmuNotifierRange } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class OwnerWithoutEvent extends SvmMirror {
  override isOwn(range: MmuNotifierRange, _event: MmuNotifierEvent): boolean {
    // A2: `if (range->owner == me)`, the event unchecked.
    return range.owner === this.owner;
  }
}

export default svmDriver({
  name: 'a2-owner-without-event',
  description: 'A2: the owner is compared without the event, so its own migrations are skipped like its exclusive conversions',
  atomics: 'exclusive',
  policy: { skipOwnExclusive: 'always' },
  mirror: OwnerWithoutEvent,
});
