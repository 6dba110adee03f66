/**
 * S1 (synthetic): "my own invalidation" is any range whose owner is my pgmap owner, whatever its
 * event. This device has no device memory, so its pgmap owner is undefined: the owner every UNMAP,
 * CLEAR and PROTECTION range carries. Every one of them is skipped.
 */
import type { MmuNotifierEvent, MmuNotifierRange } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class OwnerAnyEvent extends SvmMirror {
  override isOwn(range: MmuNotifierRange, _event: MmuNotifierEvent): boolean {
    // S1: the event is not checked (the fix: `range.event === event &&`).
    return range.owner === this.device.pgmap?.owner;
  }
}

export default svmDriver({
  name: 's1-owner-any-event',
  description: 'S1: an owner check without the event skips every invalidation of a device without memory',
  memoryPages: 0,
  policy: { ownMigrate: 'keep' },
  mirror: OwnerAnyEvent,
});
