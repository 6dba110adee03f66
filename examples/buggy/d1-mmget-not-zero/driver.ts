/**
 * D1 ("drm/amdkfd: Use mmget_not_zero in MMU notifier", fa582c6f3684; fixed by "drm/amdkfd: Dont
 * call mmput from MMU notifier callback", cf234231fcbc): svm_range_cpu_invalidate_pagetables
 * returns `true` at once when `mmget_not_zero(mm)` fails. Between the last `mmput` of an exiting
 * process and the release notifier that stops its queues, a compaction or NUMA migration of one of
 * its pages is acknowledged with no GPU unmap and no `set_seq`, and the GPU keeps using the page.
 */
import type { MmuIntervalNotifier, MmuNotifierRange } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { ReleaseMirror } from '../lib/svm-release.js';

class MmgetNotZero extends ReleaseMirror {
  override async invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    // D1: "the mm is going away, nothing to do". The fix takes the mm reference elsewhere and drops this.
    if (!this.mm.mmgetNotZero()) return true;
    const r = await super.invalidate(mni, range, curSeq);
    await this.mm.mmput();
    return r;
  }
}

export default svmDriver({
  name: 'd1-mmget-not-zero',
  description: 'D1: an invalidation of an exiting mm is acknowledged without a GPU unmap (mmget_not_zero early return)',
  mirror: MmgetNotZero,
});
