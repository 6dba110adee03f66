/**
 * The driver-facing API of each kernel profile, as far as codemods change it (the same rows as
 * `kernelProfile` in @hmmlab/core: ownerField, migrateSelect, exclusive, migratePfnLocked).
 */
import { AnalyzeError } from '../errors.js';

/** A kernel API profile name. */
export type ProfileName = '5.8' | 'seed' | '5.9' | '5.14' | '6.1' | 'latest';

/** Every profile, oldest first. */
export const PROFILE_NAMES: readonly ProfileName[] = ['5.8', 'seed', '5.9', '5.14', '6.1', 'latest'];

/** What code written for a profile uses. */
export interface ProfileApi {
  readonly name: ProfileName;
  /** Range field of the owner: none before the seed patch, `data`, `migratePgmapOwner` (5.9), `owner` (5.14). */
  readonly ownerField: null | 'data' | 'migratePgmapOwner' | 'owner';
  /** `MigrateVma.srcOwner` (v5.7 API) or `pgmapOwner` + `MIGRATE_VMA_SELECT_*` flags (v5.9). */
  readonly select: 'src_owner' | 'flags';
  /** `makeDeviceExclusiveRange` (5.14–6.13) or `makeDeviceExclusive` (6.14+). */
  readonly exclusive: null | 'range' | 'single';
  /** Destination entries carry `MIGRATE_PFN_LOCKED` (until v5.17). */
  readonly pfnLocked: boolean;
}

const API: Readonly<Record<ProfileName, ProfileApi>> = {
  '5.8': { name: '5.8', ownerField: null, select: 'src_owner', exclusive: null, pfnLocked: true },
  seed: { name: 'seed', ownerField: 'data', select: 'src_owner', exclusive: null, pfnLocked: true },
  '5.9': { name: '5.9', ownerField: 'migratePgmapOwner', select: 'flags', exclusive: null, pfnLocked: true },
  '5.14': { name: '5.14', ownerField: 'owner', select: 'flags', exclusive: 'range', pfnLocked: true },
  '6.1': { name: '6.1', ownerField: 'owner', select: 'flags', exclusive: 'range', pfnLocked: false },
  latest: { name: 'latest', ownerField: 'owner', select: 'flags', exclusive: 'single', pfnLocked: false },
};

/** The API of profile `name`; `api` and `role` name the caller and argument in the error. */
export function profileApi(api: string, role: string, name: string): ProfileApi {
  const p = (API as Record<string, ProfileApi | undefined>)[name];
  if (p === undefined) {
    throw new AnalyzeError('ERR_PROFILE', `${api}: unknown ${role} profile "${name}"; expected one of ${PROFILE_NAMES.join(', ')}`);
  }
  return p;
}
