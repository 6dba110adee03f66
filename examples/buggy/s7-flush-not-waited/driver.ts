/**
 * S7 (synthetic): the device page-table entries are cleared and a TLB invalidation is issued, but
 * the callback returns without waiting for its fence; the TLB keeps serving the old translations
 * after the CPU entry changed.
 */
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class FlushNotWaited extends SvmMirror {
  override revoke(start: number, end: number): void {
    this.vm.dirtyWritable(start, end);
    this.vm.clearRange(start, end);
    // S7: the invalidation is queued on the TLB engine and never waited for (no fence wait, no ack).
    this.vm.flushTlbAsync(start, end);
    this.dmaUnmapRange(start, end);
  }
}

export default svmDriver({
  name: 's7-flush-not-waited',
  description: 'S7: device PTEs cleared, TLB flush issued but not waited for',
  mirror: FlushNotWaited,
});
