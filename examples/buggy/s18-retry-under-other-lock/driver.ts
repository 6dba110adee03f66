/**
 * S18 (synthetic; invariant I3 with the wrong lock): the fault path checks
 * `mmu_interval_read_retry` and writes the device entries under the device page-table lock, with
 * no preemption point between them, but the invalidate callback takes only the notifier lock `L`
 * around `mmu_interval_set_seq` and its zap. The two locks do not exclude each other: on another
 * CPU the callback can move the sequence and zap right after the check, and the fault path then
 * installs entries to pages the CPU has let go. The device entry writes and the callback's clears
 * share no lock, which happens-before finds whatever interleaving ran.
 */
import type { HmmRange, Mutex } from '@hmmlab/core';
import { hmmRangeFaultLoop } from '@hmmlab/harness';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class RetryUnderOtherLock extends SvmMirror {
  /** The device page-table lock (a `vmm->mutex`): the callback never takes it. */
  readonly ptLock: Mutex = this.kernel.mutex(`${this.device.name} page-table lock`);

  override faultLoop(range: HmmRange, commit: () => number): Promise<number> {
    // S18: read_retry and the entry writes under the page-table lock instead of L.
    return hmmRangeFaultLoop({ mm: this.mm, range, lock: () => this.ptLock.lock(), unlock: () => this.ptLock.unlock(), commit });
  }
}

export default svmDriver({
  name: 's18-retry-under-other-lock',
  description: 'S18: read_retry and the device entry writes under a lock the invalidate callback does not take',
  mirror: RetryUnderOtherLock,
});
