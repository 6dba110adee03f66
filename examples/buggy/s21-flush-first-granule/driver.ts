/**
 * S21 (synthetic): a GPU whose TLB caches 64 KiB device pages, and whose callback issues one TLB
 * invalidation, for the device page holding the start of the range, as if no invalidated range
 * spanned two device pages. A munmap, mprotect or migration of a range that crosses a 64 KiB
 * boundary leaves every later granule cached.
 */
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

/** The device's page size: the granule its TLB caches and each invalidation evicts. */
export const DEVICE_PAGE_SIZE = 64 * 1024;

class FlushFirstGranule extends SvmMirror {
  override revoke(start: number, end: number): void {
    if (this.detached) return;
    this.vm.dirtyWritable(start, end);
    this.vm.clearRange(start, end);
    // S21: one invalidation, for the device page of `start`; the rest of the range stays cached.
    const first = this.vm.granuleOf(start);
    this.vm.flushTlb(first.start, first.end);
    this.dmaUnmapRange(start, end);
  }
}

export default svmDriver({
  name: 's21-flush-first-granule',
  description: 'S21: a 64 KiB-page device whose callback flushes only the first device page of the range',
  pageSize: DEVICE_PAGE_SIZE,
  mirror: FlushFirstGranule,
});
