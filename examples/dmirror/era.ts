/**
 * What lib/test_hmm.c looked like in each kernel era the model has a profile for. An out-of-tree
 * driver picks these at build time (`LINUX_VERSION_CODE`); the port picks them from the kernel's
 * profile, so one driver runs on every profile the fuzzer tries.
 */
import { HmmlabError, type KernelProfile } from '@hmmlab/core';

/** The era-dependent choices of the dmirror port. */
export interface DmirrorEra {
  /** Number of dmirror devices (`DMIRROR_NDEVICES`): 2 until v6.0 added the two coherent ones. */
  readonly ndevices: 2 | 4;
  /**
   * `dmirror_interval_invalidate` returns early for `MMU_NOTIFY_MIGRATE` carrying its own owner
   * ("mm/hmm/test: use the new migration invalidation", v5.9). The 5.8 driver had no filter.
   */
  readonly ownerFilter: boolean;
  /** Which range field carries the owner (`migrate_pgmap_owner` in 5.9–5.13, `owner` since 5.14). */
  readonly ownerField: 'owner' | 'migratePgmapOwner' | null;
  /** `struct migrate_vma` selection: `src_owner` (v5.7–5.8) or `pgmap_owner` + flags (v5.9+). */
  readonly select: 'src_owner' | 'flags';
  /** Pages per `migrate_vma_setup` call: `src_pfns[64]` up to v6.1 (`dmirror_migrate_to_device`), `PTRS_PER_PTE` in NEWEST. */
  readonly migrateChunk: number;
  /** Pages per `hmm_range_fault` call: `pfns[64]` up to v6.1 (`dmirror_fault`), `pfns[32]` in NEWEST. */
  readonly faultChunk: number;
  /**
   * `dmirror_migrate_alloc_and_copy` makes a hole's destination writable when the VMA is
   * (`!spage && VM_WRITE`); the THP series dropped that rule (NEWEST: `src & MIGRATE_PFN_WRITE` only).
   */
  readonly holeWritable: boolean;
  /** Destinations carry `MIGRATE_PFN_LOCKED` (until v5.17). */
  readonly pfnLocked: boolean;
  /** `HMM_DMIRROR_EXCLUSIVE`: none, `make_device_exclusive_range` (5.14–6.13), `make_device_exclusive`. */
  readonly exclusive: null | 'range' | 'single';
  /** `HMM_DMIRROR_MIGRATE_TO_SYS` and device-coherent devices (v6.0). */
  readonly migrateToSys: boolean;
  /** `migrate_vma.fault_page`, `HMM_DMIRROR_RELEASE` and chunk eviction on close (v6.1). */
  readonly deviceRange: boolean;
  /** `HMM_DMIRROR_FLAGS` (the THP series). */
  readonly flagsIoctl: boolean;
  /**
   * Migrations ask for `MIGRATE_VMA_SELECT_COMPOUND` and move a PMD-sized THP as one device
   * folio (the device THP series, NEWEST: `dmirror_migrate_to_device`, `dmirror_devmem_fault`).
   */
  readonly compound: boolean;
}

/**
 * The dmirror of `profile`'s kernel with pages of `pageSize` bytes. Profile `seed` has none: its
 * migrate API had a direction field the model lacks.
 */
export function dmirrorEra(profile: KernelProfile, pageSize: number): DmirrorEra {
  if (profile.name === 'seed') {
    throw new HmmlabError(
      'ERR_PROFILE',
      'dmirror: profile seed is not supported (the seed series passed a migration direction the model does not have); use 5.8 or 5.9',
    );
  }
  const latest = profile.name === 'latest';
  return {
    ndevices: profile.deviceCoherent ? 4 : 2,
    ownerFilter: profile.ownerField !== null,
    ownerField: profile.ownerField === 'data' ? null : profile.ownerField,
    select: profile.migrateSelect,
    migrateChunk: latest ? pageSize / 8 : 64, // NEWEST: PTRS_PER_PTE, 8-byte PTEs per page
    faultChunk: latest ? 32 : 64,
    holeWritable: !latest,
    pfnLocked: profile.migratePfnLocked,
    exclusive: profile.exclusive,
    migrateToSys: profile.deviceCoherent,
    deviceRange: profile.faultPage,
    flagsIoctl: latest,
    compound: profile.deviceThp,
  };
}
