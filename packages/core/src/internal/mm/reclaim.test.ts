import { describe, expect, it } from 'vitest';
import { EBUSY, EINVAL } from '../errors.js';
import { Kernel } from '../kernel.js';
import { mapAnon } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE } from './constants.js';
import { shrinkPage } from './reclaim.js';

describe('reclaim (shrinkPage)', () => {
  it('should turn every mapping of an anonymous page into a swap entry', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 4);
    const child = await mm.fork();
    const page = mm.pageAt(a);
    expect(await mm.reclaim(a)).toBe(0);
    expect(page?.free).toBe(true);
    expect(k.swap.get(1)?.count).toBe(2);
    expect([await child.read(a), await mm.read(a)]).toEqual([4, 4]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should free a page that reclaim left in the swap cache once its last mapping is zapped (free_swap_cache)', async () => {
    // What add_to_swap leaves when try_to_unmap then misses a mapping (an mremap moved it under
    // the walk): the swap cache holds the page, with a reference, while a process still maps it.
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 4);
    const page = mm.pageAt(a);
    if (page === undefined) throw new Error('no page');
    const slot = k.swap.alloc(page.words, 0);
    page.swapSlot = slot;
    (k.swap.get(slot) as { cachePfn: number }).cachePfn = page.pfn;
    k.pages.getPage(page);
    expect(await mm.munmap(a, k.pageSize)).toBe(0);
    expect(page.free).toBe(true);
    expect(k.swap.size).toBe(0);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should keep a swap-cache page whose slot a swap entry still references when another mapping of it is zapped', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 4);
    const page = mm.pageAt(a);
    if (page === undefined) throw new Error('no page');
    const slot = k.swap.alloc(page.words, 1);
    page.swapSlot = slot;
    (k.swap.get(slot) as { cachePfn: number }).cachePfn = page.pfn;
    k.pages.getPage(page);
    expect(await mm.munmap(a, k.pageSize)).toBe(0);
    // page_swapped: the slot's contents are still needed, and the cache keeps the page for them.
    expect(page.free).toBe(false);
    expect(page.refcount).toBe(1);
    expect(k.swap.get(slot)?.cachePfn).toBe(page.pfn);
  });

  it.each([
    ['pinned', 'pin'],
    ['locked', 'lock'],
  ])('should refuse a %s page with -EBUSY', async (_what, how) => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 4);
    const page = mm.pageAt(a);
    if (page === undefined) throw new Error('no page');
    if (how === 'pin') {
      page.pins = 1;
      k.pages.getPage(page);
    } else k.pages.trylockPage(page);
    expect(await mm.reclaim(a)).toBe(-EBUSY);
    expect(mm.pageAt(a)).toBe(page);
  });

  it('should return -EINVAL for the zero page and for an empty entry', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 2);
    await mm.read(a);
    expect(await mm.reclaim(a)).toBe(-EINVAL);
    expect(await mm.reclaim(a + k.pageSize)).toBe(-EINVAL);
    expect(await shrinkPage(k, k.pages.zeroPage)).toBe(-EINVAL);
  });

  it('should write a file page back and drop it from the page cache', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const f = k.createFile('f', { size: k.pageSize });
    const a = await mm.mmap(0, k.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, f);
    await mm.write(a, 6);
    expect(await mm.reclaim(a)).toBe(0);
    expect(f.cache.size).toBe(0);
    expect(await mm.read(a)).toBe(6);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });
});
