/**
 * S3 (synthetic): "nothing mapped yet, nothing to do": the callback returns before
 * `mmu_interval_set_seq`. A fault that read its pfns before the invalidation then passes
 * `mmu_interval_read_retry` and installs a page the CPU no longer maps.
 */
import type { MmuIntervalNotifier, MmuNotifierRange } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class EarlyReturn extends SvmMirror {
  override invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    // S3: not bound yet, so skip, and skip the set_seq with it. The fix: lock, set_seq, then check.
    if (this.vm.pt.size === 0) return Promise.resolve(true);
    return super.invalidate(mni, range, curSeq);
  }
}

export default svmDriver({
  name: 's3-early-return-before-set-seq',
  description: 'S3: an early return for an unbound mirror skips mmu_interval_set_seq',
  mirror: EarlyReturn,
});
