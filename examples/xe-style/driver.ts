/**
 * xe-style: an xe device of two tiles with recoverable page faults, mirroring a process through
 * drm_gpusvm (drivers/gpu/drm/drm_gpusvm.c, drivers/gpu/drm/xe/xe_svm.c): notifiers holding
 * ranges, a notifier rw_semaphore, per-tile presence bits, fenced TLB invalidations waited for in
 * the notifier, a garbage collector for unmapped ranges, and VRAM migration. See README.md.
 */
import { defineDriver } from '@hmmlab/harness';
import { XeDevice, XeVm } from './xe-svm.js';

export default defineDriver<XeVm>({
  name: 'xe-style',
  description: 'xe SVM on drm_gpusvm: notifier rwsem, tile_present under the lock, fenced TLB invalidation, UNMAP to a garbage collector',
  profiles: ['latest'],
  // One xe VM mirrors the process on both tiles.
  vmsPerBinding: 2,
  probe(kernel) {
    const xe = new XeDevice(kernel);
    return {
      devices: xe.tiles,
      // xe_vm_create with DRM_XE_VM_CREATE_FLAG_FAULT_MODE + xe_svm_init: notifiers come with the first fault.
      bind: async (mm) => new XeVm(xe, mm),
    };
  },
});
