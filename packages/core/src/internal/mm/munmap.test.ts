import { describe, expect, it } from 'vitest';
import { EINVAL } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import { mapAnon } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { ULONG_MAX } from './constants.js';

describe('munmap', () => {
  it.each([
    ['an unaligned address', 1, 4096],
    ['a zero length', 0, 0],
  ])('should return -EINVAL for %s', async (_what, off, len) => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    expect(await mm.munmap(a + off, len)).toBe(-EINVAL);
  });

  it('should split a VMA when unmapping its middle and free the pages after the invalidation ends', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const ps = k.pageSize;
    const a = await mapAnon(mm, 3);
    for (let i = 0; i < 3; i++) await mm.write(a + i * ps, i + 1);
    const freedPfn = mm.pageAt(a + ps)?.pfn;
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('n'), mm, 0, ULONG_MAX, { invalidate: () => true });
    expect(await mm.munmap(a + ps, ps)).toBe(0);
    expect(mm.vmas.map((v) => [v.start - a, v.end - a])).toEqual([
      [0, ps],
      [2 * ps, 3 * ps],
    ]);
    const ev = k.trace.events();
    const end = ev.findIndex((e) => e.type === 'inv-end');
    const free = ev.findIndex((e) => e.type === 'page-free' && e.pfn === freedPfn);
    expect(free).toBeGreaterThan(end);
    expect(await mm.read(a + 2 * ps)).toBe(3);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should send no invalidation for a range without VMAs', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    expect(await mm.munmap(0x40000000, 4096)).toBe(0);
    expect(k.trace.events().filter((e) => e.type === 'inv-start')).toEqual([]);
  });
});
