/**
 * N2 (nouveau_svm_range_invalidate): the callback returns at once, without `set_seq`, for the
 * `MMU_NOTIFY_EXCLUSIVE` of a conversion its own atomic fault path started with its owner; that
 * path read the sequence before `make_device_exclusive` and maps the page only if it still holds
 * (lib/svm-exclusive.ts). Calling `set_seq` there would make the path retry its own conversion
 * forever.
 */
import { svmDriver } from '../../lib/svm-driver.js';

export default svmDriver({
  name: 'n2-own-exclusive-skip',
  description: 'N2: its own EXCLUSIVE skipped without set_seq; the initiator checks read_retry',
  profiles: ['5.14', '6.1', 'latest'],
  memoryPages: 0,
  atomics: 'exclusive',
  policy: { skipOwnExclusive: 'always' },
});
