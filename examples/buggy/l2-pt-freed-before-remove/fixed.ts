/**
 * L2 fixed: `mmu_interval_notifier_remove` first (it waits for the callbacks in flight, and no
 * later invalidation calls this notifier), then the page table is freed.
 */
import { mmuIntervalNotifierRemove } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class RemoveThenFree extends SvmMirror {
  override async unbind(): Promise<void> {
    await this.stopFaults();
    await this.evict();
    await this.revokeAllAndDetach();
    await mmuIntervalNotifierRemove(this.notifier);
    this.vm.destroy('page table freed');
  }
}

export default svmDriver({
  name: 'l2-pt-freed-before-remove-fixed',
  description: 'L2 fixed: the notifier removed before the page table is freed',
  mirror: RemoveThenFree,
});
