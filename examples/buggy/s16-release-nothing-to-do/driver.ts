/**
 * S16 (synthetic): the driver revokes device translations from a classic `mmu_notifier`'s
 * `invalidate_range_start` (as nouveau's svmm notifier does) and treats the mm's teardown as
 * nothing to do: its `release` does not stop the device. `__mmu_notifier_release` unhashes classic
 * notifiers after calling `release`, so the UNMAP of `exit_mmap` never reaches this one, and the
 * pages are freed under a device that is still running. (An interval notifier's
 * `if (event == RELEASE) return true` is harmless: interval notifiers stay in the tree and get that
 * UNMAP.)
 */
import { EAGAIN, MmuNotifier, type MmuNotifierRange } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

export class ReleaseNothingToDo extends SvmMirror {
  private readonly svmm = new MmuNotifier(
    {
      invalidateRangeStart: async (_sub, range) => {
        if (!(await this.lockFor(range))) return -EAGAIN;
        this.revoke(range.start, range.end);
        this.lock.unlock();
        return 0;
      },
      release: () => this.teardown(),
    },
    `${this.device.name} svmm`,
  );

  override classicNotifiers(): readonly MmuNotifier[] {
    return [this.svmm];
  }

  /** The mm is torn down. S16: "nothing to do"; the fix stops the device here (kfd_process_notifier_release destroys the queues). */
  teardown(): Promise<void> {
    return Promise.resolve();
  }

  /** The interval notifier only moves the sequence for the fault path (nouveau_svm_range_invalidate). */
  override invalidateLocked(_range: MmuNotifierRange): void {}
}

export default svmDriver({
  name: 's16-release-nothing-to-do',
  description: 'S16: a classic notifier whose release does not stop the device; exit_mmap frees pages it still maps',
  mirror: ReleaseNothingToDo,
});
