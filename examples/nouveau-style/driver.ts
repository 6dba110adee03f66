/**
 * nouveau-style: a GPU that mirrors a process the way drivers/gpu/drm/nouveau does: a classic
 * `mmu_notifier` that zaps the GPU for every invalidation but its own migrations, short-lived
 * interval notifiers that only order the fault path, VRAM as device-private memory, and atomics
 * through device-exclusive entries. See README.md for what it follows and where it differs.
 */
import { defineDriver } from '@hmmlab/harness';
import { NouveauDrm } from './drm.js';
import type { NouveauSvmm } from './svmm.js';

export default defineDriver<NouveauSvmm>({
  name: 'nouveau-style',
  description:
    'nouveau: classic notifier with the MIGRATE self-skip, per-fault interval notifiers, VRAM migration, device-exclusive atomics (on the fixed-kernel what-if classicFailureItree: end)',
  profiles: ['latest'],
  // A process may open two GPUs (two /dev/dri nodes, each with its own svmm): each GPU then sees
  // the other's migrations and device-exclusive conversions, with the other's owner.
  bindDevices: 2,
  // The classic callback refuses every non-blockable range, as nouveau's does; every kernel then
  // leaves the interval tree invalidating for ever (docs/findings/classic-eagain-itree-leak.md).
  // The template runs the kernel with the proposed fix; driver.test.ts shows the hang without it.
  profileOverrides: { classicFailureItree: 'end' },
  probe(kernel) {
    // nouveau_drm_probe → nouveau_dmem_init, nouveau_svm_init, once per GPU, each with its VRAM.
    const drms = [new NouveauDrm(kernel, 0), new NouveauDrm(kernel, 1)];
    return {
      devices: drms.map((d) => d.device),
      bind: (mm, options) => (drms[options?.device ?? 0] as NouveauDrm).svmmInit(mm),
    };
  },
});
