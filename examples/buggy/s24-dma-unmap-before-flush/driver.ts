/**
 * S24 (synthetic; the N3 control with its teardown reordered): an on-demand-paging NIC whose device
 * reaches memory only through DMA mappings. Its invalidate callback, under the notifier lock,
 * tears the DMA mappings of the range down first and only then clears the device entries and
 * flushes the TLB. Between the two the NIC still translates the pages to DMA addresses that map
 * nothing, or that the next `dma_map_page` hands to another page. No preemption point lies
 * between the unmap and the flush, so no interleaving shows a bad access; the unmap itself does:
 * the device holds a translation through the mapping it tears down. mlx5's
 * `mlx5_ib_invalidate_range` zaps the NIC's entries and waits for it (`mlx5r_umr_update_xlt`)
 * before `ib_umem_odp_unmap_dma_pages`; `ib_umem_odp_release` (drivers/infiniband/core/umem_odp.c)
 * leaves it to the driver to ensure "that the hardware will not attempt to access the MR any more".
 */

import { OdpNothingMapped } from '../controls/n3-nothing-mapped/driver.js';
import { svmDriver } from '../lib/svm-driver.js';

class DmaUnmapBeforeFlush extends OdpNothingMapped {
  override revoke(start: number, end: number): void {
    if (this.detached) return;
    // S24: the DMA mappings go while the device entries and the TLB still reach the pages.
    this.dmaUnmapRange(start, end);
    this.vm.dirtyWritable(start, end);
    this.vm.clearRange(start, end);
    this.vm.flushTlb(start, end);
  }
}

export default svmDriver({
  name: 's24-dma-unmap-before-flush',
  description: 'S24: the DMA mappings torn down before the device entries are cleared and the TLB flushed',
  memoryPages: 0,
  policy: { dma: true },
  mirror: DmaUnmapBeforeFlush,
});
