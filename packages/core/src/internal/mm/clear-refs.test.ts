import { describe, expect, it } from 'vitest';
import { EINVAL } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import { eventsOf, mapAnon } from '../test-helpers.js';
import { ULONG_MAX } from './constants.js';
import { PTE_SOFT_DIRTY, PTE_YOUNG, pteFlags, pteWrite } from './pte.js';

describe('clearRefs', () => {
  it('should clear soft-dirty and write-protect under SOFT_DIRTY (4), and a write sets it again', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 1);
    expect(pteFlags(mm.pte(a)) & PTE_SOFT_DIRTY).toBe(PTE_SOFT_DIRTY);
    expect(await mm.clearRefs(4)).toBe(0);
    expect(pteFlags(mm.pte(a)) & PTE_SOFT_DIRTY).toBe(0);
    expect(pteWrite(mm.pte(a))).toBe(false);
    await mm.write(a, 2);
    expect(pteFlags(mm.pte(a)) & PTE_SOFT_DIRTY).toBe(PTE_SOFT_DIRTY);
  });

  it('should clear the accessed bits without an invalidation (1)', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 1);
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('n'), mm, 0, ULONG_MAX, { invalidate: () => true });
    expect(await mm.clearRefs(1)).toBe(0);
    expect(pteFlags(mm.pte(a)) & PTE_YOUNG).toBe(0);
    expect(eventsOf(k, 'inv-start')).toEqual([]);
  });

  it.each([[0], [6], [1.5]])('should return -EINVAL for %s', async (v) => {
    const k = new Kernel();
    expect(await k.createMm().clearRefs(v)).toBe(-EINVAL);
  });
});
