import { describe, expect, it } from 'vitest';
import { EBUSY, EINVAL, ENOMEM } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MmuNotifier, mmuNotifierRegister } from '../notifier/mmu-notifier.js';
import { mapAnon } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_SHARED, PROT_READ, PROT_WRITE } from './constants.js';
import { ptePfn } from './pte.js';

describe('madvise', () => {
  it('should zero private anonymous memory with MADV_DONTNEED and keep shared memory', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    const s = await mm.mmap(0, k.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    await mm.write(a, 1);
    await mm.write(s, 2);
    expect(await mm.madvise(a, k.pageSize, MADV_DONTNEED)).toBe(0);
    expect(await mm.madvise(s, k.pageSize, MADV_DONTNEED)).toBe(0);
    expect(mm.pte(s)).toBe(0);
    expect([await mm.read(a), await mm.read(s)]).toEqual([0, 2]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should let reclaim discard a clean MADV_FREE page but keep one written again', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const ps = k.pageSize;
    const a = await mapAnon(mm, 2);
    await mm.write(a, 1);
    await mm.write(a + ps, 2);
    expect(await mm.madvise(a, 2 * ps, MADV_FREE)).toBe(0);
    await mm.write(a + ps, 3);
    expect(await mm.reclaim(a)).toBe(0);
    // try_to_unmap_one finds the page dirtied again: it stays, swap-backed; the next pass swaps it.
    expect(await mm.reclaim(a + ps)).toBe(-EBUSY);
    expect(k.swap.size).toBe(0);
    expect(await mm.reclaim(a + ps)).toBe(0);
    expect(k.swap.size).toBe(1);
    expect([await mm.read(a), await mm.read(a + ps)]).toEqual([0, 3]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should keep a MADV_FREE page that the invalidation of its reclaim marks dirty, or that holds a reference beyond its mappings', async () => {
    for (const how of ['dirtied', 'referenced', 'clean'] as const) {
      const k = new Kernel();
      const mm = k.createMm();
      const a = await mapAnon(mm, 1);
      await mm.write(a, 1);
      expect(await mm.madvise(a, k.pageSize, MADV_FREE)).toBe(0);
      const page = k.pages.page(ptePfn(mm.pte(a)));
      // A device that wrote the page marks it dirty as its callback revokes its mapping
      // (set_page_dirty), or it holds a reference of its own.
      if (how === 'referenced') k.pages.getPage(page);
      await mmuNotifierRegister(
        new MmuNotifier(
          {
            invalidateRangeStart() {
              if (how === 'dirtied') page.dirty = true;
              return 0;
            },
          },
          'device',
        ),
        mm,
      );
      const r = await mm.reclaim(a);
      expect([how, r, await mm.read(a)]).toEqual([how, how === 'clean' ? 0 : -EBUSY, how === 'clean' ? 0 : 1]);
      if (how === 'referenced') k.pages.putPage(page);
    }
  });

  it.each([
    ['MADV_FREE on shared memory', 'shared', MADV_FREE, -EINVAL],
    ['a range with a hole', 'hole', MADV_DONTNEED, -ENOMEM],
    ['an unknown advice', 'anon', 99, -EINVAL],
    ['a hint the model ignores', 'anon', MADV_HUGEPAGE, 0],
  ])('should return the errno for %s', async (_what, where, advice, ret) => {
    const k = new Kernel();
    const mm = k.createMm();
    let a = await mapAnon(mm, 1);
    let len = k.pageSize;
    if (where === 'shared') a = await mm.mmap(0, k.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    if (where === 'hole') len = 3 * k.pageSize;
    expect(await mm.madvise(a, len, advice)).toBe(ret);
  });
});
