/**
 * N3 (mlx5_ib_invalidate_range): an on-demand-paging NIC that reaches memory through DMA
 * mappings takes `umem_mutex`, calls `mmu_interval_set_seq`, and skips the zap when it maps nothing
 * (`if (!umem_odp->npages) goto out`). No mapping can exist: one is only created under the same
 * mutex after `mmu_interval_read_retry`.
 */
import type { MmuNotifierRange } from '@hmmlab/core';
import { svmDriver } from '../../lib/svm-driver.js';
import { SvmMirror } from '../../lib/svm-mirror.js';

export class OdpNothingMapped extends SvmMirror {
  override invalidateLocked(range: MmuNotifierRange): void {
    // N3: set_seq already done under L; nothing is DMA-mapped, so nothing to zap.
    if (this.dmaMapped.size === 0) return;
    super.invalidateLocked(range);
  }
}

export default svmDriver({
  name: 'n3-nothing-mapped',
  description: 'N3: lock, set_seq, then skip the zap when no page is mapped (mlx5 ODP)',
  memoryPages: 0,
  policy: { dma: true },
  mirror: OdpNothingMapped,
});
