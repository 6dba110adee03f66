/**
 * S13 (synthetic): only UNMAP and CLEAR "change pages"; PROTECTION_VMA (mprotect), PROTECTION_PAGE
 * (fork's write-protect, page_mkclean) and SOFT_DIRTY fall through the switch. After mprotect(RO)
 * or a fork, the device still writes through its writable translation.
 */
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_UNMAP, type MmuNotifierRange } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class ProtectionNoop extends SvmMirror {
  override invalidateLocked(range: MmuNotifierRange): void {
    switch (range.event) {
      case MMU_NOTIFY_UNMAP:
      case MMU_NOTIFY_CLEAR:
        super.invalidateLocked(range);
        break;
      default:
        // S13: "nothing is unmapped": a permission change is treated as a no-op.
        break;
    }
  }
}

export default svmDriver({
  name: 's13-protection-noop',
  description: 'S13: PROTECTION_VMA, PROTECTION_PAGE and SOFT_DIRTY invalidations are ignored',
  mirror: ProtectionNoop,
});
