/**
 * L2 (synthetic, I9): closing the device file tears the translations down and frees the device
 * page table, and only then removes the interval notifier. An invalidation in between runs the
 * callback, whose zap walks the page table the close just freed.
 */
import { mmuIntervalNotifierRemove, ULONG_MAX } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

export class PtFreedBeforeRemove extends SvmMirror {
  override async unbind(): Promise<void> {
    await this.stopFaults();
    await this.evict();
    await this.lock.lock();
    this.revoke(0, ULONG_MAX);
    // L2: the page table is freed while the notifier can still call back into it. The fix:
    // mmu_interval_notifier_remove first (it waits for callbacks in flight), then free.
    this.vm.destroy('page table freed');
    this.lock.unlock();
    await mmuIntervalNotifierRemove(this.notifier);
  }
}

export default svmDriver({
  name: 'l2-pt-freed-before-remove',
  description: 'L2: the device page table is freed before the interval notifier is removed; a callback in between walks freed memory',
  mirror: PtFreedBeforeRemove,
});
