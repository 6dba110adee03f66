/**
 * D2 (amdkfd in v6.1; fixed by "drm/amdkfd: Dequeue user queues when process mm released", Philip
 * Yang, amd-gfx, October 2025): `kfd_process_notifier_release` takes the process out of the table
 * and puts its notifier (`kfd_process_notifier_release_internal`, drivers/gpu/drm/amd/amdkfd/
 * kfd_process.c), but the user queues are dequeued only by `kfd_process_wq_release`, the work
 * queued once the last reference on the process goes. The SVM notifier ignores RELEASE (N5), and
 * the UNMAPs of `exit_mmap` reach `svm_range_unmap_from_cpu`, which returns at once as
 * `kfd_lookup_process_by_mm` no longer finds the process (kfd_svm.c): `exit_mmap` frees pages the
 * GPU still maps while its queues run.
 */
import { MMU_NOTIFY_UNMAP, type MmuNotifierRange, Work } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { ReleaseMirror } from '../lib/svm-release.js';

export class QueuesAfterMmRelease extends ReleaseMirror {
  /** The process is out of `kfd_processes_table`: `kfd_lookup_process_by_mm` finds nothing. */
  private unhashed = false;
  /** `kfd_process_wq`. */
  private readonly releaseWq = this.kernel.workqueue(`kfd_process_wq (${this.device.name})`);

  /**
   * `kfd_process_notifier_release` in v6.1: `hash_del_rcu`, the eviction and restore work
   * cancelled, `p->mm = NULL`, `mmu_notifier_put`. Its `free_notifier` drops the process's
   * reference, and the last one queues `kfd_process_wq_release`, which dequeues the queues (the
   * kernel queues it after an SRCU grace period, later still).
   */
  override release(): Promise<void> {
    this.unhashed = true;
    this.releaseWq.queueWork(new Work('kfd_process_wq_release', () => this.destroyQueues()));
    return Promise.resolve();
  }

  /** `svm_range_unmap_from_cpu` starts with `kfd_lookup_process_by_mm`: nothing is unmapped once the process is unhashed. */
  override invalidateLocked(range: MmuNotifierRange): void {
    if (this.unhashed && range.event === MMU_NOTIFY_UNMAP) return;
    super.invalidateLocked(range);
  }
}

export default svmDriver({
  name: 'd2-queues-after-mm-release',
  description: 'D2: the release notifier leaves the queues running; exit_mmap unmaps nothing from the GPU and frees pages it still maps',
  mirror: QueuesAfterMmRelease,
});
