import { describe, expect, it } from 'vitest';
import {
  formatPte,
  mkPte,
  PTE_DIRTY,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SWAP,
  PTE_WRITE,
  pteAccessible,
  pteClear,
  pteFlags,
  pteKind,
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
