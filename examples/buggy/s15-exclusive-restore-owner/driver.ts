/**
 * S15 (synthetic, a what-if core): the driver skips its own `MMU_NOTIFY_EXCLUSIVE`, as nouveau
 * does for the conversions it starts (N2). A modified core passes the device's owner on the
 * EXCLUSIVE invalidation that revokes the entry when the CPU touches the page
 * (`profileOverrides: { exclusiveRestoreOwner: 'caller' }`, profile 6.1, whose restore event is
 * EXCLUSIVE): the callback skips the revocation and the device keeps its atomic mapping while the
 * CPU writes. The driver code is the N2 control's; the fix would skip only while this driver is
 * itself converting a page.
 */
import { svmDriver } from '../lib/svm-driver.js';

export default svmDriver({
  name: 's15-exclusive-restore-owner',
  description: "S15: an own-owner EXCLUSIVE skip meets a core that fires the CPU's revocation with the device's owner",
  profiles: ['6.1'],
  memoryPages: 0,
  atomics: 'exclusive',
  policy: { skipOwnExclusive: 'always' },
});
