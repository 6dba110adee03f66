/**
 * S5 (synthetic): a non-blockable invalidation (the OOM reaper's) answered `true` with nothing
 * done, because the driver lock could not be taken without sleeping. The reaper then frees the
 * pages while the device still maps them.
 */
import { type MmuIntervalNotifier, type MmuNotifierRange, mmuNotifierRangeBlockable } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class NonBlockableTrue extends SvmMirror {
  override invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    // S5: "the OOM reaper cannot wait for us, let it go ahead". The fix: trylock, or return false.
    if (!mmuNotifierRangeBlockable(range)) return Promise.resolve(true);
    return super.invalidate(mni, range, curSeq);
  }
}

export default svmDriver({
  name: 's5-nonblockable-true',
  description: 'S5: a non-blockable invalidation returns true without revoking anything',
  mirror: NonBlockableTrue,
});
