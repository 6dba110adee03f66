/**
 * N9 (the S18 fix): the device page-table lock nests inside the notifier lock `L`, so
 * `mmu_interval_read_retry` and the device entry writes run under both, and the invalidate
 * callback, which takes `L` alone, cannot move the sequence or zap in between (invariant I3).
 */
import type { HmmRange, Mutex } from '@hmmlab/core';
import { hmmRangeFaultLoop } from '@hmmlab/harness';
import { svmDriver } from '../../lib/svm-driver.js';
import { SvmMirror } from '../../lib/svm-mirror.js';

class RetryUnderBothLocks extends SvmMirror {
  /** The device page-table lock (a `vmm->mutex`), taken inside `L`. */
  readonly ptLock: Mutex = this.kernel.mutex(`${this.device.name} page-table lock`);

  override faultLoop(range: HmmRange, commit: () => number): Promise<number> {
    return hmmRangeFaultLoop({
      mm: this.mm,
      range,
      lock: async () => {
        await this.lock.lock();
        await this.ptLock.lock();
      },
      unlock: () => {
        this.ptLock.unlock();
        this.lock.unlock();
      },
      commit,
    });
  }
}

export default svmDriver({
  name: 'n9-retry-under-both-locks',
  description: 'N9: read_retry and the device entry writes under the page-table lock nested inside the notifier lock',
  mirror: RetryUnderBothLocks,
});
