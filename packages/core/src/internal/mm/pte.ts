/**
 * CPU page-table entries. An entry is an integer, as a `pte_t` is: the page frame number times
 * {@link PTE_PFN_MUL} plus kind and flag bits. 0 is `pte_none`.
 */

/** Entry kinds (the low 3 bits). */
export const PTE_NONE = 0;
/** A present mapping (`pte_present`). */
export const PTE_PRESENT = 1;
/** A swap entry; the pfn field holds the swap slot. */
export const PTE_SWAP = 2;
/** A migration entry (`is_migration_entry`): the page is being migrated; faults wait. */
export const PTE_MIGRATION = 3;
/** A device-private entry (`is_device_private_entry`): the data lives in device memory. */
export const PTE_DEVICE_PRIVATE = 4;
/** A device-exclusive entry (`is_device_exclusive_entry`): a device holds the page for atomics. */
export const PTE_DEVICE_EXCLUSIVE = 5;

/** Writable (`pte_write`; for swap-type entries, the writable variant of the entry). */
export const PTE_WRITE = 0x08;
/** Dirty (`pte_dirty`). */
export const PTE_DIRTY = 0x10;
/** Accessed (`pte_young`). */
export const PTE_YOUNG = 0x20;
/** Soft-dirty (`pte_soft_dirty`), cleared by `clear_refs`. */
export const PTE_SOFT_DIRTY = 0x40;
/** Migration entries: the page was anon-exclusive (`make_readable_exclusive_migration_entry`). */
export const PTE_EXCLUSIVE = 0x80;
/** Present but inaccessible (`pte_protnone`), as `mprotect(PROT_NONE)` leaves entries. */
export const PTE_PROTNONE = 0x100;

/** Multiplier of the pfn inside an entry. */
export const PTE_PFN_MUL = 1024;

const FLAG_MASK = 0x3f8;

/** The kind of an entry. */
export type PteKind = 'none' | 'present' | 'swap' | 'migration' | 'device-private' | 'device-exclusive';

const KIND_NAMES: readonly PteKind[] = ['none', 'present', 'swap', 'migration', 'device-private', 'device-exclusive'];

/** Builds an entry from kind, pfn and flag bits. */
export function mkPte(kind: number, pfn: number, flags = 0): number {
  return pfn * PTE_PFN_MUL + (flags & FLAG_MASK) + kind;
}

/** Kind bits of an entry (one of the `PTE_*` kinds). */
export function pteKindOf(e: number): number {
  return e % 8;
}

/** The kind of an entry, by name. */
export function pteKind(e: number): PteKind {
  return KIND_NAMES[e % 8] ?? 'none';
}

/** Page frame number (or swap slot) of an entry. */
export function ptePfn(e: number): number {
  return Math.floor(e / PTE_PFN_MUL);
}

/** Flag bits of an entry. */
export function pteFlags(e: number): number {
  return (e % PTE_PFN_MUL) & FLAG_MASK;
}

/** `pte_write`. */
export function pteWrite(e: number): boolean {
  return ((e % PTE_PFN_MUL) & PTE_WRITE) !== 0;
}

/** `pte_present`. */
export function ptePresent(e: number): boolean {
  return e % 8 === PTE_PRESENT;
}

/** Present and accessible: present and not `pte_protnone`. */
export function pteAccessible(e: number): boolean {
  return e % 8 === PTE_PRESENT && ((e % PTE_PFN_MUL) & PTE_PROTNONE) === 0;
}

/** Returns the entry with flag bits set. */
export function pteSet(e: number, flags: number): number {
  return e - pteFlags(e) + (pteFlags(e) | flags);
}

/** Returns the entry with flag bits cleared. */
export function pteClear(e: number, flags: number): number {
  return e - pteFlags(e) + (pteFlags(e) & ~flags);
}

/** A readable form of an entry: `present(pfn 12, w d)`. */
export function formatPte(e: number): string {
  if (e === 0) return 'none';
  const f = pteFlags(e);
  const bits = [
    f & PTE_WRITE ? 'w' : 'r',
    f & PTE_DIRTY ? 'd' : '',
    f & PTE_YOUNG ? 'y' : '',
    f & PTE_SOFT_DIRTY ? 'sd' : '',
    f & PTE_EXCLUSIVE ? 'x' : '',
    f & PTE_PROTNONE ? 'protnone' : '',
  ].filter((b) => b !== '');
  const what = pteKindOf(e) === PTE_SWAP ? 'slot' : 'pfn';
  return `${pteKind(e)}(${what} ${ptePfn(e)}, ${bits.join(' ')})`;
}
