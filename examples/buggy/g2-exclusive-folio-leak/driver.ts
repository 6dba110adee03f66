/**
 * G2 ("nouveau/svm: fix missing folio unlock + put after make_device_exclusive_range()",
 * b3fefbb30a16): the atomic fault path gets the folio back locked and referenced from
 * `make_device_exclusive` and never unlocks or puts it. The next CPU access to the page waits for
 * that lock forever.
 */
import type { Page } from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class ExclusiveFolioLeak extends SvmMirror {
  override releaseExclusive(_page: Page): void {
    // G2: no folio_unlock(), no folio_put().
  }
}

export default svmDriver({
  name: 'g2-exclusive-folio-leak',
  description: 'G2: the folio make_device_exclusive returns is never unlocked or put',
  memoryPages: 0,
  atomics: 'exclusive',
  policy: { skipOwnExclusive: 'always' },
  mirror: ExclusiveFolioLeak,
});
