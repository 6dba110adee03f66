/**
 * Device page-table entries: `pfn * DEV_PTE_PFN_MUL + flags`, 0 meaning no entry. A device entry
 * maps a system page, a device page of its own, or (a bug the oracle reports) anything else.
 */

/** The entry is valid. */
export const DEV_PTE_VALID = 1;
/** The device may write through it. */
export const DEV_PTE_WRITE = 2;
/** The device may do atomics through it (test_hmm's `DPT_XA_TAG_ATOMIC`, a device-exclusive page). */
export const DEV_PTE_ATOMIC = 4;
/** Multiplier of the pfn. */
export const DEV_PTE_PFN_MUL = 8;

/** Builds a device entry. */
export function mkDevPte(pfn: number, write: boolean, atomic = false): number {
  return pfn * DEV_PTE_PFN_MUL + DEV_PTE_VALID + (write ? DEV_PTE_WRITE : 0) + (atomic ? DEV_PTE_ATOMIC : 0);
}

/** Pfn of a device entry. */
export function devPtePfn(e: number): number {
  return Math.floor(e / DEV_PTE_PFN_MUL);
}

/** Flag bits of a device entry. */
export function devPteFlags(e: number): number {
  return e % DEV_PTE_PFN_MUL;
}

/** True if the entry allows an access of that kind. */
export function devPteAllows(e: number, kind: 'read' | 'write' | 'atomic'): boolean {
  const f = e % DEV_PTE_PFN_MUL;
  if ((f & DEV_PTE_VALID) === 0) return false;
  if (kind === 'read') return true;
  if (kind === 'write') return (f & DEV_PTE_WRITE) !== 0;
  return (f & DEV_PTE_ATOMIC) !== 0;
}

/** `pfn 12 rw` / `pfn 12 r a` / `none`. */
export function formatDevPte(e: number): string {
  if (e === 0) return 'none';
  const f = devPteFlags(e);
  return `pfn ${devPtePfn(e)} ${f & DEV_PTE_WRITE ? 'rw' : 'r'}${f & DEV_PTE_ATOMIC ? ' atomic' : ''}`;
}
