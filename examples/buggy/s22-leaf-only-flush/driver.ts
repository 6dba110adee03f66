/**
 * S22 (synthetic): a GPU with a page-walk cache beside its TLB. The callback unmaps an
 * invalidated range by freeing the page-table pages the range covers whole (the bulk unmap of
 * io-pgtable-arm.c's `__arm_lpae_unmap`), clears the entries of the rest, and then invalidates the
 * leaf TLB only: the walk cache still holds the address of every freed table, and the device keeps
 * translating through the entries those tables held.
 */
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

/**
 * The span of one leaf page-table page of the device: 16 entries of 4 KiB, small enough that the
 * fuzzer's layouts cover whole tables (a device with tables of 512 entries has the same bug over
 * 2 MiB ranges).
 */
export const TABLE_SPAN = 64 * 1024;

class LeafOnlyFlush extends SvmMirror {
  override revoke(start: number, end: number): void {
    if (this.detached) return;
    this.vm.freeTables(start, end);
    this.vm.dirtyWritable(start, end);
    this.vm.clearRange(start, end);
    // S22: a leaf-only invalidation, though whole tables were just freed.
    this.vm.flushTlb(start, end, { leafOnly: true });
    this.dmaUnmapRange(start, end);
  }
}

export default svmDriver({
  name: 's22-leaf-only-flush',
  description: 'S22: page-table pages freed, then a leaf-only TLB flush that leaves them in the walk cache',
  walkCache: { span: TABLE_SPAN },
  mirror: LeafOnlyFlush,
});
