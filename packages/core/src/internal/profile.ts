/**
 * Kernel API profiles: what the core does, and which fields a range carries, in each kernel era
 * the seed patch touched. `docs/kernel-semantics/profiles.md` gives the kernel commit for each row.
 */
import { HmmlabError } from './errors.js';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_EXCLUSIVE, MMU_NOTIFY_MIGRATE, type MmuNotifierEvent } from './notifier/range.js';

/** The profiles hmmlab models. */
export type ProfileName = '5.8' | 'seed' | '5.9' | '5.14' | '6.1' | 'latest';

/** The names of every profile, oldest first. */
export const PROFILE_NAMES: readonly ProfileName[] = ['5.8', 'seed', '5.9', '5.14', '6.1', 'latest'];

/** What a profile changes. */
export interface KernelProfile {
  /** The profile's name. */
  readonly name: ProfileName;
  /** Event of the invalidation `migrate_vma_collect` sends (CLEAR before 998427b3ad2c). */
  readonly collectEvent: MmuNotifierEvent;
  /** Range field that carries the owner: none, `data` (seed), `migratePgmapOwner` (5.9), `owner` (5.14). */
  readonly ownerField: null | 'data' | 'migratePgmapOwner' | 'owner';
  /**
   * `struct migrate_vma` selection API: `src_owner` (v5.7: set → only device-private pages of that
   * owner, unset → only system pages) or `pgmap_owner` plus `MIGRATE_VMA_SELECT_*` flags (5143192cd410).
   */
  readonly migrateSelect: 'src_owner' | 'flags';
  /** Event of the hole-filling invalidation in `migrate_vma_pages` (MIGRATE since 5e5dda81a0df, v5.11). */
  readonly holeFillEvent: MmuNotifierEvent;
  /** Device-exclusive API: none, `make_device_exclusive_range` (5.14–6.13), `make_device_exclusive` (6.14+). */
  readonly exclusive: null | 'range' | 'single';
  /** Event of the CPU fault that restores a device-exclusive entry (EXCLUSIVE, then CLEAR in ~6.15). */
  readonly exclusiveRestoreEvent: MmuNotifierEvent;
  /** `MEMORY_DEVICE_COHERENT` and `MIGRATE_VMA_SELECT_DEVICE_COHERENT` (v6.0). */
  readonly deviceCoherent: boolean;
  /** `migrate_vma.fault_page` and the `migrate_device_*` range API (v6.1). */
  readonly faultPage: boolean;
  /**
   * How `do_swap_page` calls `migrate_to_ram`: without a page reference (≤6.0), with one
   * (16ce101db85d, v6.1), or only after a page trylock (1afaeb8293c9, ~6.15).
   */
  readonly devicePrivateFault: 'no-ref' | 'ref' | 'trylock';
  /** `MIGRATE_PFN_LOCKED` exists and drivers must set it on dst entries (removed in v5.17). */
  readonly migratePfnLocked: boolean;
  /**
   * `hmm_range_fault` with `HMM_PFN_REQ_FAULT` faults a foreign device-private page back through
   * its owner's `migrate_to_ram` ("mm/hmm: fault non-owner device private entries", v6.0);
   * before, it returned `-EFAULT`.
   */
  readonly hmmFaultsForeignPrivate: boolean;
  /**
   * `hmm_range_fault` returns a device-private page as it is only when its pgmap owner is
   * `range.dev_private_owner` (08ddddda667b, "mm/hmm: check the device private page owner in
   * hmm_range_fault()", v5.7). `false` is a what-if of the v5.6 kernel, which returned every
   * device-private page, whoever owned it (bug class B7).
   */
  readonly hmmChecksPrivateOwner: boolean;
  /**
   * Owner carried by the invalidation that revokes a device-exclusive entry on a CPU fault. The
   * kernel passes none; `'caller'` is a what-if for experiments: a core that passes the owner of
   * the device that took the page, on the profile's `exclusiveRestoreEvent` (bug class S15 with
   * EXCLUSIVE; with CLEAR, bug class A2: an owner on an event other than MIGRATE/EXCLUSIVE).
   */
  readonly exclusiveRestoreOwner: 'none' | 'caller';
  /**
   * What `migrate_vma_collect_pmd` does with a page of a PTE-mapped large folio (a THP whose PMD
   * was split): skip it (`PageTransCompound`, up to 6.x) or split the folio and collect its pages
   * (`migrate_vma_split_folio`, the newest tree). A PMD-mapped THP is split in both.
   */
  readonly largeFolioCollect: 'skip' | 'split';
  /**
   * What `__mmu_notifier_invalidate_range_start` (mm/mmu_notifier.c) does with the interval
   * tree's invalidation when `mn_itree_invalidate` succeeded and a classic subscriber's
   * `invalidate_range_start` then fails a non-blockable range: return the error and leave it open
   * (`'leave-open'`, every kernel since the interval tree, 99cb252f5e68, v5.5, up to the newest
   * tree), so `active_invalidate_ranges` keeps the count and `invalidate_seq` may stay odd; or end
   * it with `mn_itree_inv_end`, as `mn_itree_invalidate` does for its own `-EAGAIN` (`'end'`, a
   * what-if: the fix proposed in docs/findings/classic-eagain-itree-leak.md).
   */
  readonly classicFailureItree: 'leave-open' | 'end';
}

const BASE: KernelProfile = {
  name: 'latest',
  collectEvent: MMU_NOTIFY_MIGRATE,
  ownerField: 'owner',
  migrateSelect: 'flags',
  holeFillEvent: MMU_NOTIFY_MIGRATE,
  exclusive: 'single',
  exclusiveRestoreEvent: MMU_NOTIFY_CLEAR,
  deviceCoherent: true,
  faultPage: true,
  devicePrivateFault: 'trylock',
  migratePfnLocked: false,
  hmmFaultsForeignPrivate: true,
  hmmChecksPrivateOwner: true,
  exclusiveRestoreOwner: 'none',
  largeFolioCollect: 'split',
  classicFailureItree: 'leave-open',
};

const PROFILES: Readonly<Record<ProfileName, KernelProfile>> = {
  '5.8': {
    ...BASE,
    name: '5.8',
    largeFolioCollect: 'skip',
    collectEvent: MMU_NOTIFY_CLEAR,
    ownerField: null,
    migrateSelect: 'src_owner',
    holeFillEvent: MMU_NOTIFY_CLEAR,
    exclusive: null,
    exclusiveRestoreEvent: MMU_NOTIFY_EXCLUSIVE,
    deviceCoherent: false,
    faultPage: false,
    devicePrivateFault: 'no-ref',
    migratePfnLocked: true,
    hmmFaultsForeignPrivate: false,
  },
  seed: {
    ...BASE,
    name: 'seed',
    largeFolioCollect: 'skip',
    collectEvent: MMU_NOTIFY_MIGRATE,
    ownerField: 'data',
    migrateSelect: 'src_owner',
    holeFillEvent: MMU_NOTIFY_CLEAR,
    exclusive: null,
    exclusiveRestoreEvent: MMU_NOTIFY_EXCLUSIVE,
    deviceCoherent: false,
    faultPage: false,
    devicePrivateFault: 'no-ref',
    migratePfnLocked: true,
    hmmFaultsForeignPrivate: false,
  },
  '5.9': {
    ...BASE,
    name: '5.9',
    largeFolioCollect: 'skip',
    ownerField: 'migratePgmapOwner',
    holeFillEvent: MMU_NOTIFY_CLEAR,
    exclusive: null,
    exclusiveRestoreEvent: MMU_NOTIFY_EXCLUSIVE,
    deviceCoherent: false,
    faultPage: false,
    devicePrivateFault: 'no-ref',
    migratePfnLocked: true,
    hmmFaultsForeignPrivate: false,
  },
  '5.14': {
    ...BASE,
    name: '5.14',
    largeFolioCollect: 'skip',
    exclusive: 'range',
    exclusiveRestoreEvent: MMU_NOTIFY_EXCLUSIVE,
    deviceCoherent: false,
    faultPage: false,
    devicePrivateFault: 'no-ref',
    migratePfnLocked: true,
    hmmFaultsForeignPrivate: false,
  },
  '6.1': {
    ...BASE,
    name: '6.1',
    largeFolioCollect: 'skip',
    exclusive: 'range',
    exclusiveRestoreEvent: MMU_NOTIFY_EXCLUSIVE,
    devicePrivateFault: 'ref',
  },
  latest: BASE,
};

/**
 * The profile of that name, optionally with some rows changed for a what-if experiment; throws a
 * clear error for an unknown name.
 */
export function kernelProfile(name: string, overrides: Partial<Omit<KernelProfile, 'name'>> = {}): KernelProfile {
  const p = (PROFILES as Record<string, KernelProfile | undefined>)[name];
  if (p === undefined) {
    throw new HmmlabError('ERR_PROFILE', `kernelProfile: unknown profile "${name}"; expected one of ${PROFILE_NAMES.join(', ')}`);
  }
  for (const k of Object.keys(overrides)) {
    if (!(k in p)) {
      throw new HmmlabError(
        'ERR_PROFILE',
        `kernelProfile: override "${k}" is not a profile field; expected one of ${Object.keys(p).join(', ')}`,
      );
    }
  }
  return { ...p, ...overrides };
}
