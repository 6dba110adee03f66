import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { MIGRATE_PFN_MIGRATE, MIGRATE_PFN_VALID, migratePfn, migratePfnToPage, migratePfnToPfn } from './migrate-pfn.js';

describe('migratePfn', () => {
  it('should encode pfn << MIGRATE_PFN_SHIFT | VALID, exact above 2^26', () => {
    const m = migratePfn(2 ** 30) + MIGRATE_PFN_MIGRATE;
    expect(migratePfnToPfn(m)).toBe(2 ** 30);
    expect(m & (MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE)).toBe(MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE);
  });

  it('should give no page for an entry without VALID', () => {
    const k = new Kernel();
    const p = k.pages.allocPage();
    expect(migratePfnToPage(k, migratePfn(p.pfn))).toBe(p);
    expect(migratePfnToPage(k, MIGRATE_PFN_MIGRATE)).toBeNull();
  });
});
