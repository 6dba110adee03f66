/**
 * `MIGRATE_PFN_*` (include/linux/migrate.h) and `MIGRATE_VMA_SELECT_*`. Entries keep the kernel's
 * low-bit layout: `pfn << MIGRATE_PFN_SHIFT | flags`, built with multiplication so that pfns above
 * 2^26 stay exact; `entry & MIGRATE_PFN_VALID` works as in C. JavaScript's `|` truncates to 32
 * bits, so above pfn 2^26 add flags (`migratePfn(pfn) + MIGRATE_PFN_WRITE`) instead of or-ing them.
 */
import type { Kernel } from '../kernel.js';
import type { Page } from '../mm/page.js';

/** The entry holds a pfn. */
export const MIGRATE_PFN_VALID = 1 << 0;
/** The page is to be migrated (set by collection, cleared when migration of that page is refused). */
export const MIGRATE_PFN_MIGRATE = 1 << 1;
/** Profiles up to 5.16 only (removed by "mm/migrate.c: Remove MIGRATE_PFN_LOCKED"). */
export const MIGRATE_PFN_LOCKED = 1 << 2;
/** The source entry was writable (or, in a destination entry, map the new page writable). */
export const MIGRATE_PFN_WRITE = 1 << 3;
/**
 * Profile `latest` only: the entry is the head of a PMD-sized folio (or a PMD-sized hole) and the
 * `HPAGE_PMD_NR - 1` entries after it are 0; in a destination, the new page heads a PMD-sized
 * folio (include/linux/migrate.h, the device THP migration series).
 */
export const MIGRATE_PFN_COMPOUND = 1 << 4;
/** Bits below the pfn in an entry. */
export const MIGRATE_PFN_SHIFT = 6;
const MUL = 1 << MIGRATE_PFN_SHIFT;

/** Select system memory pages for migration. */
export const MIGRATE_VMA_SELECT_SYSTEM = 1 << 0;
/** Select device-private pages whose pagemap owner is `pgmapOwner`. */
export const MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 1 << 1;
/** v6.0+. */
export const MIGRATE_VMA_SELECT_DEVICE_COHERENT = 1 << 2;

/**
 * Profile `latest` only: collect a PMD-mapped THP, a device-private PMD or a PMD-sized hole as one
 * compound entry instead of splitting it (include/linux/migrate.h `MIGRATE_VMA_SELECT_COMPOUND`).
 */
export const MIGRATE_VMA_SELECT_COMPOUND = 1 << 3;

/** `migrate_pfn(pfn)`: `pfn << MIGRATE_PFN_SHIFT | MIGRATE_PFN_VALID`. */
export function migratePfn(pfn: number): number {
  return pfn * MUL + MIGRATE_PFN_VALID;
}

/** The pfn of an entry. */
export function migratePfnToPfn(mpfn: number): number {
  return Math.floor(mpfn / MUL);
}

/** `migrate_pfn_to_page`: the page of a VALID entry, else null. */
export function migratePfnToPage(kernel: Kernel, mpfn: number): Page | null {
  if ((mpfn & MIGRATE_PFN_VALID) === 0) return null;
  return kernel.pages.pfnToPage(migratePfnToPfn(mpfn)) ?? null;
}
