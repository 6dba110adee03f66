/**
 * N7 (amdkfd without XNACK, svm_range_evict and svm_range_restore_work): an invalidation stops
 * the GPU queues instead of zapping the page table; the restore worker revalidates with
 * `hmm_range_fault`, and under the lock, only if the sequence still holds, rewrites the entries and
 * resumes the queues (lib/svm-quiesce.ts).
 */
import { svmDriver } from '../../lib/svm-driver.js';
import { QuiesceMirror } from '../../lib/svm-quiesce.js';

export default svmDriver({
  name: 'n7-quiesce-restore',
  description: 'N7: quiesce instead of zapping, restore re-validated with read_retry under the lock (amdkfd xnack off)',
  mirror: QuiesceMirror,
});
