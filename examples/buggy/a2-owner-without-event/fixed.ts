/**
 * A2 fixed: the same device and policy, with the event checked beside the owner
 * (`SvmMirror.isOwn`): its own exclusive conversions are still skipped (N2), its own migrations
 * are invalidated like any other event.
 */
import { svmDriver } from '../lib/svm-driver.js';

export default svmDriver({
  name: 'a2-owner-without-event-fixed',
  description: 'A2 fixed: the owner compared only on MMU_NOTIFY_EXCLUSIVE',
  atomics: 'exclusive',
  policy: { skipOwnExclusive: 'always' },
});
