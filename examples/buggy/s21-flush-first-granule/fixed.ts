/**
 * S21 fixed: the invalidation covers every device page of the range, rounded out to whole device
 * pages, or the whole address space when the range spans more device pages than are worth
 * invalidating by range (the whole-address-space unbind, for one).
 */
import { ULONG_MAX } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';
import { DEVICE_PAGE_SIZE } from './driver.js';

/** Above this many device pages, the callback flushes the whole address space instead. */
const MAX_RANGE_PAGES = 64;

class FlushEveryGranule extends SvmMirror {
  override revoke(start: number, end: number): void {
    if (this.detached) return;
    this.vm.dirtyWritable(start, end);
    this.vm.clearRange(start, end);
    const first = this.vm.granuleOf(start).start;
    const last = this.vm.granuleOf(end - 1).end;
    const all = last - first > MAX_RANGE_PAGES * DEVICE_PAGE_SIZE;
    this.vm.flushTlb(all ? 0 : first, all ? ULONG_MAX : last);
    this.dmaUnmapRange(start, end);
  }
}

export default svmDriver({
  name: 's21-flush-first-granule-fixed',
  description: 'S21 fixed: every device page of the range invalidated',
  pageSize: DEVICE_PAGE_SIZE,
  mirror: FlushEveryGranule,
});
