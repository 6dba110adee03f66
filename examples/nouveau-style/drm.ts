/**
 * `struct nouveau_drm` (drivers/gpu/drm/nouveau/nouveau_drm.c): the GPU and its VRAM. The object
 * itself stands for `drm->dev`: it is the pgmap owner of the VRAM (`pagemap.owner = drm->dev` in
 * `nouveau_dmem_init`), the `dev_private_owner` of every `hmm_range`, and the owner the GPU's own
 * migrations and device-exclusive conversions carry.
 */
import { HmmlabError, type Kernel, type Mm, mmuNotifierRegister } from '@hmmlab/core';
import { Device } from '@hmmlab/harness';
import { nouveauDmemMigrateToRam } from './dmem.js';
import { NouveauSvmm } from './svmm.js';

/** VRAM pages handed to HMM (`DMEM_CHUNK_NPAGES` chunks in the kernel; one small range here). */
export const NOUVEAU_VRAM_PAGES = 32;

/** `struct nouveau_drm`. */
export class NouveauDrm {
  readonly kernel: Kernel;
  /** The GPU: replayable faults (`fault_replay = true`), atomics only on device-exclusive pages. */
  readonly device: Device;
  private svmms = 0;

  /** @param index - the GPU's number: `nouveau<index>`. */
  constructor(kernel: Kernel, index = 0) {
    this.kernel = kernel;
    this.device = new Device(kernel, {
      name: `nouveau${index}`,
      owner: this,
      faultMode: 'replayable',
      // System memory atomics go through make_device_exclusive (nouveau_atomic_range_fault).
      atomics: 'exclusive',
      memory: { type: 'private', pages: NOUVEAU_VRAM_PAGES, migrateToRam: (vmf) => nouveauDmemMigrateToRam(this, vmf) },
    });
  }

  /** `drm->dev`: the owner compared with `range->owner` and passed as `pgmap_owner` / `dev_private_owner`. */
  get dev(): NouveauDrm {
    return this;
  }

  /**
   * `nouveau_svmm_init` (NOUVEAU_SVM_INIT ioctl): a GPU VMM with replayable faults for the process
   * `mm`, and its `mmu_notifier` registered on the mm (`__mmu_notifier_register`).
   */
  async svmmInit(mm: Mm): Promise<NouveauSvmm> {
    const svmm = new NouveauSvmm(this, mm, this.svmms++);
    const ret = await mmuNotifierRegister(svmm.notifier, mm);
    if (ret !== 0) throw new HmmlabError('ERR_STATE', `nouveau_svmm_init: __mmu_notifier_register failed with ${ret}`);
    return svmm;
  }
}
