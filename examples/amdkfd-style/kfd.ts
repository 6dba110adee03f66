/**
 * The amdkfd driver definition, for both XNACK modes (drivers/gpu/drm/amd/amdkfd): a hive of two
 * GPUs linked by XGMI, each with its VRAM, sharing one pgmap owner (`SVM_ADEV_PGMAP_OWNER(adev)`
 * is the hive), and the KFD process that mirrors an mm on both. examples/amdkfd-style (XNACK on)
 * and examples/amdkfd-style-xnack-off export this with one mode each.
 */
import type { Kernel, ProfileName } from '@hmmlab/core';
import { Device, type DriverDefinition, defineDriver } from '@hmmlab/harness';
import { svmMigrateToRam } from './migrate.js';
import { KfdProcess } from './process.js';

/** VRAM pages each GPU hands to HMM (`kgd2kfd_init_zone_device`). */
export const KFD_VRAM_PAGES = 32;

/** Profiles the templates are written for. */
const PROFILES: readonly ProfileName[] = ['latest'];

/**
 * `struct amdgpu_hive_info`: the pgmap owner shared by the GPUs of an XGMI hive, so that each GPU
 * maps the other's VRAM pages as they are (`hmm_range_fault` returns them without faulting).
 */
export class KfdHive {
  readonly kernel: Kernel;
  readonly gpus: readonly Device[];
  /** XNACK on: retry faults; off: a GPU fault is fatal and ranges are mapped ahead (svm_range_set_attr). */
  readonly xnack: boolean;

  constructor(kernel: Kernel, xnack: boolean) {
    this.kernel = kernel;
    this.xnack = xnack;
    this.gpus = [0, 1].map(
      (i) =>
        new Device(kernel, {
          name: `amdgpu${i}`,
          owner: this,
          faultMode: xnack ? 'replayable' : 'fatal',
          // PCIe and XGMI atomics: a writable mapping is enough.
          atomics: 'write',
          memory: { type: 'private', pages: KFD_VRAM_PAGES, migrateToRam: (vmf) => svmMigrateToRam(this, vmf) },
        }),
    );
  }

  /** `SVM_ADEV_PGMAP_OWNER(adev)`: the hive. */
  get pgmapOwner(): KfdHive {
    return this;
  }
}

/** The amdkfd driver with XNACK on (retry faults) or off (quiesce and restore). */
export function amdkfdDriver(options: { name: string; xnack: boolean }): DriverDefinition<KfdProcess> {
  return defineDriver<KfdProcess>({
    name: options.name,
    description: `amdkfd SVM (kfd_svm.c), XNACK ${options.xnack ? 'on: unmap and retry faults' : 'off: quiesce queues, restore worker'}; a hive of two GPUs sharing one pgmap owner`,
    profiles: PROFILES,
    // One kfd_process mirrors the process on every GPU of the hive.
    vmsPerBinding: 2,
    probe(kernel) {
      const hive = new KfdHive(kernel, options.xnack);
      return {
        devices: hive.gpus,
        // kfd_create_process + svm_range_list_init (+ svm_range_set_attr of the whole address
        // space with XNACK off, as a ROCm runtime without XNACK does for its allocations).
        bind: (mm) => KfdProcess.create(hive, mm),
      };
    },
  });
}
