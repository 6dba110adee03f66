/**
 * N4 (xe_svm_invalidate): the GPU binds memory in ranges of several pages; the invalidation skips
 * a range with no binding on any tile (`!tile_present`) and zaps a bound one whole. Legal because
 * `tile_present` is set only under the notifier lock, after `mmu_interval_read_retry`, and cleared
 * under it by the zap.
 */
import { type MmuNotifierRange, ULONG_MAX } from '@hmmlab/core';
import { svmDriver } from '../../lib/svm-driver.js';
import { type SvmCommit, SvmMirror } from '../../lib/svm-mirror.js';

/** Pages per GPU range. */
const RANGE_PAGES = 4;

class TilePresent extends SvmMirror {
  /** Ranges bound on the GPU (`tile_present`), by range index; changed only under `L`. */
  private readonly present = new Set<number>();

  private get rangeBytes(): number {
    return RANGE_PAGES * this.kernel.pageSize;
  }

  override commit(c: SvmCommit): number {
    const r = super.commit(c);
    if (r === 0)
      for (let va = c.range.start; va < c.range.end; va += this.kernel.pageSize) this.present.add(Math.floor(va / this.rangeBytes));
    return r;
  }

  override invalidateLocked(range: MmuNotifierRange): void {
    for (const i of [...this.present]) {
      const start = i * this.rangeBytes;
      // N4: a range not bound on any tile is skipped; a bound one is zapped whole.
      if (start + this.rangeBytes <= range.start || start >= range.end) continue;
      this.revoke(start, Math.min(start + this.rangeBytes, ULONG_MAX));
      this.present.delete(i);
    }
  }
}

export default svmDriver({
  name: 'n4-not-present-under-lock',
  description: 'N4: ranges without a binding are skipped; the binding flag is only set under the notifier lock (xe)',
  memoryPages: 0,
  mirror: TilePresent,
});
