import { describe, expect, it } from 'vitest';
import { EFAULT, EINVAL } from '../errors.js';
import { Kernel } from '../kernel.js';
import { mapAnon } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE } from './constants.js';

async function world(pages = 3): Promise<{ k: Kernel; mm: import('./mm.js').Mm; a: number; ps: number }> {
  const k = new Kernel();
  const mm = k.createMm();
  const a = await mapAnon(mm, pages);
  for (let i = 0; i < pages; i++) await mm.write(a + i * k.pageSize, i + 1);
  return { k, mm, a, ps: k.pageSize };
}

describe('mremap', () => {
  it('should shrink in place and free the tail', async () => {
    const { k, mm, a, ps } = await world();
    expect(await mm.mremap(a, 3 * ps, ps, 0)).toBe(a);
    expect(mm.findVma(a)?.end).toBe(a + ps);
    expect(mm.pt.size).toBe(1);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should move the entries with their data when growing with MREMAP_MAYMOVE', async () => {
    const { k, mm, a, ps } = await world();
    await mm.mmap(a + 3 * ps, ps, 3, 0x22 | 0x10); // block growth in place
    const to = await mm.mremap(a, 3 * ps, 5 * ps, MREMAP_MAYMOVE);
    expect(to).not.toBe(a);
    expect(await mm.read(to + 2 * ps)).toBe(3);
    expect(mm.findVma(a)).toBeUndefined();
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should keep the old VMA, empty, with MREMAP_DONTUNMAP', async () => {
    const { k, mm, a, ps } = await world();
    const to = await mm.mremap(a, 3 * ps, 3 * ps, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    expect(await mm.read(to)).toBe(1);
    expect(mm.findVma(a)?.start).toBe(a);
    expect(await mm.read(a)).toBe(0);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should unmap the tail first when MREMAP_FIXED shrinks (mremap_to), leaving no entry outside a VMA', async () => {
    const { k, mm, a, ps } = await world();
    const to = await mm.mremap(a, 3 * ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED, 0x200000000);
    expect(to).toBe(0x200000000);
    expect(await mm.read(to)).toBe(1);
    expect(mm.pt.size).toBe(1);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it.each([
    ['MREMAP_FIXED without MREMAP_MAYMOVE', MREMAP_FIXED, 3, -EINVAL],
    ['MREMAP_DONTUNMAP with a new size', MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 4, -EINVAL],
    ['an old range that leaves its VMA', MREMAP_MAYMOVE, 5, -EFAULT],
  ])('should fail for %s', async (_what, flags, oldPages, ret) => {
    const { mm, a, ps } = await world();
    expect(await mm.mremap(a, (oldPages === 5 ? 5 : 3) * ps, oldPages * ps, flags, 0x200000000)).toBe(ret);
  });
});
