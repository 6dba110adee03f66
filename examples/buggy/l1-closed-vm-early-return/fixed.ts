/**
 * L1 fixed: "closed" is set under `L` together with the revocation, and read under `L` by the
 * callback (I9: a closed VM is a reason to skip only when the state is read and set under `L`).
 * A callback that sees it finds nothing mapped; one that runs before it revokes as usual.
 */
import { type MmuNotifierRange, mmuIntervalNotifierRemove, ULONG_MAX } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class ClosedUnderLock extends SvmMirror {
  closed = false;

  override async unbind(): Promise<void> {
    await this.stopFaults();
    await this.evict();
    await this.lock.lock();
    this.revoke(0, ULONG_MAX);
    this.closed = true;
    this.detached = true;
    this.lock.unlock();
    await mmuIntervalNotifierRemove(this.notifier);
  }

  /** With `L` held and the sequence moved: nothing is mapped once closed. */
  override invalidateLocked(range: MmuNotifierRange): void {
    if (!this.closed) super.invalidateLocked(range);
  }
}

export default svmDriver({
  name: 'l1-closed-vm-early-return-fixed',
  description: 'L1 fixed: the closed state set and read under the driver lock, after the revocation',
  mirror: ClosedUnderLock,
});
