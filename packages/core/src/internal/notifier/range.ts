/**
 * `struct mmu_notifier_range` and `enum mmu_notifier_event` (include/linux/mmu_notifier.h).
 */
import type { Mm } from '../mm/mm.js';

/** munmap(), or mremap() moving the range: the range goes away. */
export const MMU_NOTIFY_UNMAP = 0;
/** A page-table entry is cleared (madvise, COW, reclaim, zap, …). */
export const MMU_NOTIFY_CLEAR = 1;
/** Protection changed for the whole range (mprotect). */
export const MMU_NOTIFY_PROTECTION_VMA = 2;
/** Per-page protection change (page_mkclean, fork write-protect). */
export const MMU_NOTIFY_PROTECTION_PAGE = 3;
/** Soft-dirty accounting (clear_refs). */
export const MMU_NOTIFY_SOFT_DIRTY = 4;
/** Interval notifiers only: the mm is being torn down. */
export const MMU_NOTIFY_RELEASE = 5;
/** `migrate_vma_collect()`; `range.owner` is the migrating pgmap owner (v5.9, 998427b3ad2c). */
export const MMU_NOTIFY_MIGRATE = 6;
/** Conversion to a device-exclusive entry; `range.owner` is the caller's owner (v5.14). */
export const MMU_NOTIFY_EXCLUSIVE = 7;

/** One of the `MMU_NOTIFY_*` values. */
export type MmuNotifierEvent = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

const EVENT_NAMES = [
  'MMU_NOTIFY_UNMAP',
  'MMU_NOTIFY_CLEAR',
  'MMU_NOTIFY_PROTECTION_VMA',
  'MMU_NOTIFY_PROTECTION_PAGE',
  'MMU_NOTIFY_SOFT_DIRTY',
  'MMU_NOTIFY_RELEASE',
  'MMU_NOTIFY_MIGRATE',
  'MMU_NOTIFY_EXCLUSIVE',
] as const;

/** `eventName(MMU_NOTIFY_MIGRATE)` is `'MMU_NOTIFY_MIGRATE'`. */
export function eventName(event: number): string {
  return EVENT_NAMES[event] ?? `event ${event}`;
}

/** `MMU_NOTIFIER_RANGE_BLOCKABLE`. */
export const MMU_NOTIFIER_RANGE_BLOCKABLE = 1;

/**
 * An invalidation range as a callback receives it. Which owner field is set depends on the
 * kernel API profile: `data` (`seed`, the patch as posted), `migratePgmapOwner` (5.9–5.13) or
 * `owner` (5.14+); before the seed patch none is. The others stay `undefined`.
 */
export interface MmuNotifierRange {
  /** The address space being invalidated. */
  readonly mm: Mm;
  /** First address (inclusive). */
  readonly start: number;
  /** End address (exclusive). */
  readonly end: number;
  /** `MMU_NOTIFIER_RANGE_BLOCKABLE` or 0. */
  readonly flags: number;
  /** Why: `MMU_NOTIFY_*`. */
  readonly event: MmuNotifierEvent;
  /** Profile 5.14+: owner of a MIGRATE or EXCLUSIVE invalidation. */
  readonly owner: unknown;
  /** Profiles 5.9–5.13: pgmap owner of a MIGRATE invalidation. */
  readonly migratePgmapOwner: unknown;
  /** Profile `seed`: `src_owner` of a MIGRATE invalidation, as the seed patch posted it. */
  readonly data: unknown;
  /** Model id of this invalidation, as the trace names it. */
  readonly id: number;
}

/** `mmu_notifier_range_blockable`. */
export function mmuNotifierRangeBlockable(range: MmuNotifierRange): boolean {
  return (range.flags & MMU_NOTIFIER_RANGE_BLOCKABLE) !== 0;
}

/** @internal The mutable range the core builds; callbacks see it as {@link MmuNotifierRange}. */
export interface MutableRange {
  mm: Mm;
  start: number;
  end: number;
  flags: number;
  event: MmuNotifierEvent;
  owner: unknown;
  migratePgmapOwner: unknown;
  data: unknown;
  id: number;
  /** The owner the core meant to pass, whatever field the profile carries it in. */
  modelOwner: unknown;
}
