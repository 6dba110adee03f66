/**
 * N1 (lib/test_hmm.c's skip, done safely): the callback keeps its translations for its own
 * `MMU_NOTIFY_MIGRATE` (it still moves the sequence, so a concurrent fault retries), because every
 * migration path revokes the translations of the pages it is about to copy, under the driver lock,
 * as `dmirror_devmem_fault_alloc_and_copy` erases its entry before copying (I5 a, b, c).
 */
import { svmDriver } from '../../lib/svm-driver.js';

export default svmDriver({
  name: 'n1-own-migrate-revoked',
  description: 'N1: own MIGRATE kept by the callback, revoked by every migration path before its copy',
  policy: { ownMigrate: 'keep' },
});
