/**
 * CPU page-table entries. An entry is an integer, as a `pte_t` is: the page frame number times
 * {@link PTE_PFN_MUL} plus kind and flag bits. 0 is `pte_none`. The fields are read as
 * `e - Math.trunc(e / m) * m` (the `offsetIn` of align.ts, written out so that no call is left
 * where V8 does not inline one), not `e % m`: an entry read back from a {@link PageTable} leaf is
 * a double, whose `%` V8 computes by a floating-point remainder call (8 to 11 ns, against about 2).
 */

import { ViewArena } from '../arena.js';

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
  return e - Math.trunc(e / 8) * 8;
}

/** The kind of an entry, by name. */
export function pteKind(e: number): PteKind {
  return KIND_NAMES[pteKindOf(e)] ?? 'none';
}

/** Page frame number (or swap slot) of an entry. */
export function ptePfn(e: number): number {
  return Math.floor(e / PTE_PFN_MUL);
}

/** Flag bits of an entry. */
export function pteFlags(e: number): number {
  return (e - Math.trunc(e / PTE_PFN_MUL) * PTE_PFN_MUL) & FLAG_MASK;
}

/** `pte_write`. */
export function pteWrite(e: number): boolean {
  return ((e - Math.trunc(e / PTE_PFN_MUL) * PTE_PFN_MUL) & PTE_WRITE) !== 0;
}

/** `pte_present`. */
export function ptePresent(e: number): boolean {
  return e - Math.trunc(e / 8) * 8 === PTE_PRESENT;
}

/** Present and accessible: present and not `pte_protnone`. */
export function pteAccessible(e: number): boolean {
  // The low ten bits hold the kind's three: PTE_PFN_MUL is a multiple of 8.
  const low = e - Math.trunc(e / PTE_PFN_MUL) * PTE_PFN_MUL;
  return (low & 7) === PTE_PRESENT && (low & PTE_PROTNONE) === 0;
}

/** Returns the entry with flag bits set. */
export function pteSet(e: number, flags: number): number {
  // pteFlags by hand: small enough to inline where a call of it is not.
  const f = (e - Math.trunc(e / PTE_PFN_MUL) * PTE_PFN_MUL) & FLAG_MASK;
  return e - f + (f | flags);
}

/** Returns the entry with flag bits cleared. */
export function pteClear(e: number, flags: number): number {
  const f = (e - Math.trunc(e / PTE_PFN_MUL) * PTE_PFN_MUL) & FLAG_MASK;
  return e - f + (f & ~flags);
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

/**
 * Entries per page-table leaf. The kernel's PTE page holds 512 (`PTRS_PER_PTE` on x86-64); a
 * smaller leaf keeps a sparse address space cheap (a leaf per touched page when pages lie far
 * apart) and costs a dense one nothing measurable.
 */
const LEAF = 64;

/** Leaves are carved from shared arenas (see arena.ts): one of its own would be 520 bytes outside the heap. */
const leafArena = new ViewArena(8, (buffer, offset, length) => new Float64Array(buffer, offset, length));

/**
 * A page table: virtual page number → entry, with the interface of a `Map` (`get` answers
 * `undefined` for `pte_none`). As in the kernel the entries live in leaves (see {@link LEAF}),
 * here a `Float64Array` found by the leaf's index (`vpn / LEAF`, a small integer even for the top
 * of a 47-bit address space), so an entry costs 8 bytes and neighbouring entries share one lookup.
 * A leaf is freed with its last entry (the kernel frees page tables when their range is unmapped,
 * `free_pgtables` in mm/memory.c; nothing observes the difference), so a sparse address space
 * costs what its populated leaves cost. Storing 0 (`pte_none`) clears the entry.
 */
export class PageTable {
  /** Leaf index → leaf; slot {@link LEAF} of a leaf counts its entries. */
  private readonly leaves = new Map<number, Float64Array>();
  /** The leaf of the last lookup (consecutive lookups mostly fall in one leaf). */
  private lastIndex = -1;
  private lastLeaf: Float64Array | undefined = undefined;
  /** Number of entries. */
  size = 0;

  private leaf(index: number): Float64Array | undefined {
    if (index === this.lastIndex) return this.lastLeaf;
    const l = this.leaves.get(index);
    this.lastIndex = index;
    this.lastLeaf = l;
    return l;
  }

  /** The entry of `vpn`, or undefined for `pte_none`. */
  get(vpn: number): number | undefined {
    const index = Math.floor(vpn / LEAF);
    const l = this.leaf(index);
    if (l === undefined) return undefined;
    const e = l[vpn - index * LEAF] as number;
    return e === 0 ? undefined : e;
  }

  /** Whether `vpn` has an entry. */
  has(vpn: number): boolean {
    const index = Math.floor(vpn / LEAF);
    const l = this.leaf(index);
    return l !== undefined && l[vpn - index * LEAF] !== 0;
  }

  /** Sets the entry of `vpn` (0 clears it). */
  set(vpn: number, e: number): this {
    if (e === 0) {
      this.delete(vpn);
      return this;
    }
    const index = Math.floor(vpn / LEAF);
    const l = this.leaf(index) ?? this.addLeaf(index);
    const i = vpn - index * LEAF;
    if (l[i] === 0) {
      (l[LEAF] as number)++;
      this.size++;
    }
    l[i] = e;
    return this;
  }

  /** A new empty leaf at `index`, which the last lookup found missing. */
  private addLeaf(index: number): Float64Array {
    const l = leafArena.carve(LEAF + 1);
    this.leaves.set(index, l);
    this.lastLeaf = l;
    return l;
  }

  /** Clears the entry of `vpn`; true if it had one. */
  delete(vpn: number): boolean {
    const index = Math.floor(vpn / LEAF);
    const l = this.leaf(index);
    if (l === undefined) return false;
    const i = vpn - index * LEAF;
    if (l[i] === 0) return false;
    l[i] = 0;
    this.size--;
    if (--(l[LEAF] as number) === 0) {
      this.leaves.delete(index);
      this.lastLeaf = undefined;
    }
    return true;
  }

  /** Clears every entry. */
  clear(): void {
    this.leaves.clear();
    this.lastIndex = -1;
    this.lastLeaf = undefined;
    this.size = 0;
  }

  /** The vpns with an entry in `[first, last)`, ascending. */
  vpnsIn(first: number, last: number): number[] {
    const out: number[] = [];
    if (first >= last || this.size === 0) return out;
    const lo = Math.floor(first / LEAF);
    const hi = Math.floor((last - 1) / LEAF);
    if (hi - lo + 1 <= this.leaves.size * 2) {
      for (let index = lo; index <= hi; index++) this.collect(index, first, last, out);
      return out;
    }
    const indices: number[] = [];
    for (const index of this.leaves.keys()) if (index >= lo && index <= hi) indices.push(index);
    indices.sort((a, b) => a - b);
    for (const index of indices) this.collect(index, first, last, out);
    return out;
  }

  /** Appends the vpns of leaf `index` inside `[first, last)` to `out`. */
  private collect(index: number, first: number, last: number, out: number[]): void {
    const l = this.leaves.get(index);
    if (l === undefined) return;
    const base = index * LEAF;
    const from = Math.max(0, first - base);
    const to = Math.min(LEAF, last - base);
    for (let i = from; i < to; i++) if (l[i] !== 0) out.push(base + i);
  }

  /** Whether some entry lies in `[first, last)`. */
  anyIn(first: number, last: number): boolean {
    if (first >= last || this.size === 0) return false;
    const lo = Math.floor(first / LEAF);
    const hi = Math.floor((last - 1) / LEAF);
    if (hi - lo + 1 <= this.leaves.size * 2) {
      for (let index = lo; index <= hi; index++) if (this.anyInLeaf(index, first, last)) return true;
      return false;
    }
    for (const index of this.leaves.keys()) if (index >= lo && index <= hi && this.anyInLeaf(index, first, last)) return true;
    return false;
  }

  private anyInLeaf(index: number, first: number, last: number): boolean {
    const l = this.leaves.get(index);
    if (l === undefined) return false;
    const base = index * LEAF;
    const from = Math.max(0, first - base);
    const to = Math.min(LEAF, last - base);
    for (let i = from; i < to; i++) if (l[i] !== 0) return true;
    return false;
  }

  /** The vpns with an entry, ascending within a leaf, leaves in the order they were created. */
  *keys(): IterableIterator<number> {
    for (const [index, l] of this.leaves) {
      for (let i = 0; i < LEAF; i++) if (l[i] !== 0) yield index * LEAF + i;
    }
  }

  /** `[vpn, entry]` pairs, in the order of {@link PageTable.keys}. */
  *entries(): IterableIterator<[number, number]> {
    for (const [index, l] of this.leaves) {
      for (let i = 0; i < LEAF; i++) {
        const e = l[i] as number;
        if (e !== 0) yield [index * LEAF + i, e];
      }
    }
  }

  [Symbol.iterator](): IterableIterator<[number, number]> {
    return this.entries();
  }
}
