/**
 * S19 (synthetic; the condition of the N4 control broken): the GPU programs its entries under the
 * notifier lock after `mmu_interval_read_retry`, but marks the range bound (`tile_present`) only
 * after dropping the lock. An invalidation on another CPU between the unlock and the mark finds
 * the range unbound, skips its zap, and the GPU keeps entries to pages the CPU has let go. There
 * is no preemption point between the two, so only happens-before sees it: the mark and the
 * callback's read of the bitmap share no lock.
 */
import { svmDriver } from '../lib/svm-driver.js';
import { TilePresent } from '../lib/svm-present.js';

class PresentAfterUnlock extends TilePresent {
  override async faultRange(start: number, end: number, write: boolean): Promise<number> {
    const c = { range: this.rangeFor(start, end, write), write };
    const r = await this.faultLoop(c.range, () => this.program(c));
    // S19: the range is marked bound after L was dropped.
    if (r === 0) this.markPresent(c);
    return r;
  }
}

export default svmDriver({
  name: 's19-present-after-unlock',
  description: 'S19: the presence bitmap the callback checks is set after the notifier lock is dropped',
  memoryPages: 0,
  mirror: PresentAfterUnlock,
});
