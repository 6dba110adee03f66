/**
 * N4 (xe_svm_invalidate): the GPU binds memory in ranges of several pages; the invalidation skips
 * a range with no binding on any tile (`!tile_present`) and zaps a bound one whole. Legal because
 * `tile_present` is set only under the notifier lock, after `mmu_interval_read_retry`, and cleared
 * under it by the zap (lib/svm-present.ts).
 */
import { svmDriver } from '../../lib/svm-driver.js';
import { TilePresent } from '../../lib/svm-present.js';

export default svmDriver({
  name: 'n4-not-present-under-lock',
  description: 'N4: ranges without a binding are skipped; the binding flag is only set under the notifier lock (xe)',
  memoryPages: 0,
  mirror: TilePresent,
});
