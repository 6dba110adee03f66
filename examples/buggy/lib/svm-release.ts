/**
 * amdkfd's teardown split (kfd_svm.c, kfd_process.c): the SVM interval notifier has nothing to do
 * for `MMU_NOTIFY_RELEASE` (svm_range_cpu_invalidate_pagetables returns at once), because a
 * classic notifier's `release` (kfd_process_notifier_release) has already destroyed the process's
 * queues: bug-classes N5.
 */
import { MMU_NOTIFY_RELEASE, type MmuIntervalNotifier, MmuNotifier, type MmuNotifierRange } from '@hmmlab/core';
import { SvmMirror } from './svm-mirror.js';

/** A mirror whose queues a release notifier stops, so that it may ignore RELEASE. */
export class ReleaseMirror extends SvmMirror {
  /** The classic notifier carrying `release` (the KFD process notifier). */
  readonly processNotifier = new MmuNotifier({ release: () => this.release() }, `${this.device.name} kfd process`);

  override classicNotifiers(): readonly MmuNotifier[] {
    return [this.processNotifier];
  }

  override invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    // Teardown: the release notifier has stopped the queues (N5).
    if (range.event === MMU_NOTIFY_RELEASE) return Promise.resolve(true);
    return super.invalidate(mni, range, curSeq);
  }

  /** kfd_process_notifier_release: the process's queues are destroyed, the device never runs for it again. */
  release(): Promise<void> {
    return this.destroyQueues();
  }
}
