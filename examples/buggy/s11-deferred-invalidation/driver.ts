/**
 * S11 (synthetic): the callback defers the revocation to a work item (`schedule_work(evict);
 * return true;`): the kernel changes the CPU entries, and frees pages, before the work runs.
 */
import { type MmuNotifierRange, Work } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class DeferredInvalidation extends SvmMirror {
  private readonly wq = this.kernel.workqueue(`${this.device.name} evict`);
  private readonly pending: [number, number][] = [];
  private readonly evictWork = new Work(`${this.device.name} evict`, () => this.evictPending());

  override invalidateLocked(range: MmuNotifierRange): void {
    // S11: the zap runs later, in a worker, after this callback returned true.
    this.pending.push([range.start, range.end]);
    this.wq.queueWork(this.evictWork);
  }

  private async evictPending(): Promise<void> {
    await this.lock.lock();
    for (const [start, end] of this.pending.splice(0)) this.revoke(start, end);
    this.lock.unlock();
  }
}

export default svmDriver({
  name: 's11-deferred-invalidation',
  description: 'S11: the invalidation is deferred to a work item and the callback returns true at once',
  mirror: DeferredInvalidation,
});
