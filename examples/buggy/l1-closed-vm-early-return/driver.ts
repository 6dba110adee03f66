/**
 * L1 (synthetic, I9): "the VM is closed, nothing to do". Closing the device file marks the VM
 * closed at once, then takes the driver lock to tear the translations down; the invalidate
 * callback returns early for a closed VM. An invalidation that arrives in between is acknowledged
 * while the device still holds, and uses, the translations it was told to drop.
 */
import { type MmuIntervalNotifier, type MmuNotifierRange, mmuIntervalNotifierRemove } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

export class ClosedVmEarlyReturn extends SvmMirror {
  /** Set by `unbind`, read by the callback (the fix: set and read under `L`, after the revocation). */
  closed = false;

  override async unbind(): Promise<void> {
    await this.stopFaults();
    this.closed = true;
    await this.evict();
    await this.revokeAllAndDetach();
    await mmuIntervalNotifierRemove(this.notifier);
  }

  override invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    // L1: the VM is closing, so nothing to do; but its device still runs on what it mapped.
    if (this.closed) return Promise.resolve(true);
    return super.invalidate(mni, range, curSeq);
  }
}

export default svmDriver({
  name: 'l1-closed-vm-early-return',
  description: 'L1: the invalidate callback returns early once its VM is marked closed, while the device still holds translations',
  mirror: ClosedVmEarlyReturn,
});
