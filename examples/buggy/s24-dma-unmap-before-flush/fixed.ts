/**
 * S24 fixed: the callback clears the device entries and flushes the TLB first, and only then tears
 * the DMA mappings down, as `mlx5_ib_invalidate_range` does (`mlx5r_umr_update_xlt`'s zap, then
 * `ib_umem_odp_unmap_dma_pages`): the N3 control's order.
 */
import { OdpNothingMapped } from '../controls/n3-nothing-mapped/driver.js';
import { svmDriver } from '../lib/svm-driver.js';

export default svmDriver({
  name: 's24-dma-unmap-before-flush-fixed',
  description: 'S24 fixed: entries cleared and the TLB flushed before the DMA mappings go',
  memoryPages: 0,
  policy: { dma: true },
  mirror: OdpNothingMapped,
});
