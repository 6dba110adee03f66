import { fc } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  formatPte,
  mkPte,
  PageTable,
  PTE_DIRTY,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SWAP,
  PTE_WRITE,
  pteAccessible,
  pteClear,
  pteFlags,
  pteKind,
  pteKindOf,
  ptePfn,
  ptePresent,
  pteSet,
  pteWrite,
} from './pte.js';

describe('mkPte', () => {
  it('should round-trip kind, pfn and flags, also for large pfns', () => {
    const e = mkPte(PTE_PRESENT, 2 ** 40, PTE_WRITE | PTE_DIRTY);
    expect([pteKind(e), ptePfn(e), pteFlags(e), pteWrite(e), ptePresent(e)]).toEqual([
      'present',
      2 ** 40,
      PTE_WRITE | PTE_DIRTY,
      true,
      true,
    ]);
  });

  it('should set and clear flags without touching the pfn', () => {
    const e = pteSet(mkPte(PTE_PRESENT, 9), PTE_PROTNONE);
    expect(pteAccessible(e)).toBe(false);
    expect(pteAccessible(pteClear(e, PTE_PROTNONE))).toBe(true);
    expect(ptePfn(e)).toBe(9);
  });

  it('should read kind, flags and pfn as the remainders and quotient of the entry, for pfns past 2^21 (entries past 2^31) too', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.oneof(fc.nat(1 << 20), fc.integer({ min: 2 ** 21, max: 2 ** 40 })),
        fc.nat(0x3ff),
        (kind, pfn, bits) => {
          const e = mkPte(kind, pfn, bits);
          // What a pte_t's bit fields are, by the definition: the entry divided by 8 and by 1024.
          const flags = (e % 1024) & 0x3f8;
          expect([pteKindOf(e), ptePfn(e), pteFlags(e)]).toEqual([e % 8, pfn, flags]);
          expect(pteWrite(e)).toBe((flags & PTE_WRITE) !== 0);
          expect(pteAccessible(e)).toBe(e % 8 === PTE_PRESENT && (flags & PTE_PROTNONE) === 0);
          expect(pteClear(pteSet(e, PTE_DIRTY), PTE_DIRTY)).toBe(e - (flags & PTE_DIRTY));
        },
      ),
      { numRuns: 500, seed: 16 },
    );
  });
});

describe('formatPte', () => {
  it.each([
    [0, 'none'],
    [mkPte(PTE_PRESENT, 12, PTE_WRITE | PTE_DIRTY), 'present(pfn 12, w d)'],
    [mkPte(PTE_SWAP, 3), 'swap(slot 3, r)'],
  ])('should format %i as %s', (e, s) => {
    expect(formatPte(e)).toBe(s);
  });
});

describe('PageTable', () => {
  // The top of a 47-bit address space: vpns past 2^31. top + 511 and top + 512 lie in two leaves.
  const top = 2 ** 35 - 1024;

  it('answers like a Map: get, has, set, delete, size; storing 0 clears the entry', () => {
    const pt = new PageTable();
    expect([pt.get(top), pt.has(top), pt.size]).toEqual([undefined, false, 0]);
    pt.set(top, mkPte(PTE_PRESENT, 7)).set(top + 1, mkPte(PTE_PRESENT, 8));
    expect([ptePfn(pt.get(top) ?? 0), pt.has(top + 1), pt.has(top + 2), pt.size]).toEqual([7, true, false, 2]);
    pt.set(top, mkPte(PTE_PRESENT, 9));
    expect([ptePfn(pt.get(top) ?? 0), pt.size]).toEqual([9, 2]);
    expect([pt.delete(top), pt.delete(top), pt.size]).toEqual([true, false, 1]);
    pt.set(top + 1, 0);
    expect([pt.get(top + 1), pt.size, [...pt.keys()]]).toEqual([undefined, 0, []]);
  });

  it('lists the entries of a range in ascending order, dense or sparse, across leaves', () => {
    const pt = new PageTable();
    const vpns = [top + 5000, 3, top + 511, top + 512, 1_000_000, top];
    for (const v of vpns) pt.set(v, mkPte(PTE_PRESENT, 1));
    const sorted = [...vpns].sort((a, b) => a - b);
    expect(pt.vpnsIn(0, 2 ** 36)).toEqual(sorted);
    expect(pt.vpnsIn(top + 1, top + 513)).toEqual([top + 511, top + 512]);
    expect(pt.vpnsIn(4, 1_000_000)).toEqual([]);
    expect([pt.anyIn(4, 1_000_000), pt.anyIn(4, 1_000_001), pt.anyIn(top + 513, top + 5000)]).toEqual([false, true, false]);
    expect(new Set(pt.keys())).toEqual(new Set(vpns));
    expect([...pt].map(([v]) => v).sort((a, b) => a - b)).toEqual(sorted);
  });

  it('frees a leaf with its last entry, and reuses none of its entries', () => {
    const pt = new PageTable();
    pt.set(top, mkPte(PTE_PRESENT, 1));
    pt.delete(top);
    expect(pt.get(top)).toBe(undefined);
    pt.set(top + 1, mkPte(PTE_PRESENT, 2));
    expect([pt.get(top), ptePfn(pt.get(top + 1) ?? 0), [...pt.keys()]]).toEqual([undefined, 2, [top + 1]]);
  });
});
