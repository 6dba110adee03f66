/**
 * S17 (synthetic): the fault path checks `mmu_interval_read_retry` under the driver lock, drops
 * the lock, and only then writes the device entries. An invalidation that runs in between (on
 * another CPU, or after a preemption) is missed.
 */
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class RetryThenUnlock extends SvmMirror {
  override async faultRange(start: number, end: number, write: boolean): Promise<number> {
    const range = this.rangeFor(start, end, write);
    let valid = false;
    const r = await this.faultLoop(range, () => {
      valid = true; // checked under L…
      return 0;
    });
    if (r !== 0 || !valid) return r;
    // …S17: but L was dropped after the check; another CPU's invalidation can run here.
    await this.kernel.yieldPoint();
    return this.commit({ range, write });
  }
}

export default svmDriver({
  name: 's17-retry-then-unlock',
  description: 'S17: read_retry is checked under the lock, the device entries are written after dropping it',
  mirror: RetryThenUnlock,
});
