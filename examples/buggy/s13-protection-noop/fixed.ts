/**
 * S13 fixed: the kit's mirror, which zaps and flushes on every event but its own migrations and
 * exclusive conversions. The twin `hmmlab report` replays s13's counterexample on.
 */
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

export default svmDriver({
  name: 's13-protection-noop-fixed',
  description: 'S13 fixed: PROTECTION_VMA, PROTECTION_PAGE and SOFT_DIRTY invalidate like any other event',
  mirror: SvmMirror,
});
