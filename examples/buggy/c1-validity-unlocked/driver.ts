/**
 * C1 (amdgpu KFD userptr restore worker, before "drm/amdgpu: Add notifier lock for KFD userptrs",
 * Felix Kuehling, 2022; the old code said "FIXME: Must always hold notifier_lock for this, and must
 * not ignore the return code"): the invalidation evicts (stops the queues) under the notifier lock
 * and schedules a restore; the restore worker revalidates the pages, checks their validity with
 * `amdgpu_ttm_tt_get_user_pages_done()` without the lock, drops the result, and resumes the queues
 * with entries built from pages that may already be invalid.
 */
import { mmuIntervalReadRetry } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { QuiesceMirror, type Snapshot } from '../lib/svm-quiesce.js';

class ValidityUnlocked extends QuiesceMirror {
  override async commitRestore(snap: Snapshot, seq: number): Promise<boolean> {
    // C1: read_retry without the notifier lock, and its answer ignored.
    mmuIntervalReadRetry(this.notifier, seq);
    await this.lock.lock();
    this.applyAndResume(snap);
    this.lock.unlock();
    return true;
  }
}

export default svmDriver({
  name: 'c1-validity-unlocked',
  description: 'C1: the restore worker checks validity without the notifier lock, ignores it, and resumes the queues',
  memoryPages: 0,
  mirror: ValidityUnlocked,
});
