/**
 * S22 fixed: after freeing page-table pages, the callback's invalidation evicts the walk cache
 * too (io-pgtable-arm.c's `__arm_lpae_unmap` calls `io_pgtable_tlb_flush_walk` before it frees a
 * table); only a range that freed no table keeps the cheaper leaf-only flush.
 */
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';
import { TABLE_SPAN } from './driver.js';

class WalkFlush extends SvmMirror {
  override revoke(start: number, end: number): void {
    if (this.detached) return;
    const freed = this.vm.freeTables(start, end) > 0;
    this.vm.dirtyWritable(start, end);
    this.vm.clearRange(start, end);
    this.vm.flushTlb(start, end, { leafOnly: !freed });
    this.dmaUnmapRange(start, end);
  }
}

export default svmDriver({
  name: 's22-leaf-only-flush-fixed',
  description: 'S22 fixed: the walk cache flushed whenever page-table pages were freed',
  walkCache: { span: TABLE_SPAN },
  mirror: WalkFlush,
});
