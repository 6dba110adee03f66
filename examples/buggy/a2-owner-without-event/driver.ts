/**
 * A2 (Jason Gunthorpe's review of the seed patch, v4: "nobody should read migrate_pgmap_owner
 * unless MMU_NOTIFY_MIGRATE is set as the event"): the callback compares the owner without the
 * event. Latent while the core sets an owner only on MIGRATE and EXCLUSIVE; its scenario runs a
 * what-if core that also passes the device's owner when a CPU touch revokes a device-exclusive
 * entry (`profileOverrides: { exclusiveRestoreOwner: 'caller' }`, a CLEAR on the latest profile),
 * and the callback takes that CLEAR for its own exclusive conversion.
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
  description: 'A2: the owner is compared without the event (needs a core that sets an owner on other events)',
  memoryPages: 0,
  atomics: 'exclusive',
  policy: { skipOwnExclusive: 'always' },
  mirror: OwnerWithoutEvent,
});
