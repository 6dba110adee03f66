/**
 * N5 (svm_range_cpu_invalidate_pagetables, kfd_process_notifier_release): the SVM interval
 * notifier returns at once for `MMU_NOTIFY_RELEASE`, because the process notifier's `release` has
 * destroyed the process's GPU queues (lib/svm-release.ts). The UNMAP of `exit_mmap` that follows
 * is still processed.
 */
import { svmDriver } from '../../lib/svm-driver.js';
import { ReleaseMirror } from '../../lib/svm-release.js';

export default svmDriver({
  name: 'n5-release-notifier',
  description: 'N5: RELEASE ignored by the SVM notifier, the release notifier destroys the queues',
  mirror: ReleaseMirror,
});
