/**
 * N8 (NVIDIA UVM uvm_hmm.c): the callback returns at once for its own MIGRATE and EXCLUSIVE, and
 * for whatever the initiator raises inside migrate_vma_setup
 * (the initiator holds the block lock and updates its mappings inline), and returns false for a
 * non-blockable range (lib/svm-inline.ts).
 */
import { svmDriver } from '../../lib/svm-driver.js';
import { InlineMirror } from '../../lib/svm-inline.js';

export default svmDriver({
  name: 'n8-inline-under-block-lock',
  description: 'N8: own MIGRATE/EXCLUSIVE skipped, the initiator updates mappings inline under the block lock (UVM)',
  mirror: InlineMirror,
});
