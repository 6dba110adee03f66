/**
 * E1 ("RDMA/odp: Fix missed unlock in non-blocking invalidate_start", 7608bf40cf24): an ODP-style
 * mirror (the NIC reads through DMA mappings) cannot zap without sleeping, so a non-blockable start
 * gives up with `-EAGAIN`, which is legal, but returns with its lock still held. Every later fault
 * and invalidation blocks on it.
 */
import { type MmuNotifierRange, mmuNotifierRangeBlockable } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class NonBlockingLockLeak extends SvmMirror {
  override async lockFor(range: MmuNotifierRange): Promise<boolean> {
    if (!(await super.lockFor(range))) return false;
    // E1: the zap needs a sleeping UMR post, so give up; the fix unlocks first.
    if (!mmuNotifierRangeBlockable(range) && this.dmaMapped.size > 0) return false;
    return true;
  }
}

export default svmDriver({
  name: 'e1-nonblocking-lock-leak',
  description: 'E1: a failed non-blockable start returns with the driver lock held',
  memoryPages: 0,
  policy: { dma: true },
  mirror: NonBlockingLockLeak,
});
