import { describe, expect, it } from 'vitest';
import { EINVAL, ENOMEM } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import { eventsOf, mapAnon } from '../test-helpers.js';
import { PROT_NONE, PROT_READ, PROT_WRITE, ULONG_MAX } from './constants.js';
import { PTE_PROTNONE, pteFlags, pteWrite } from './pte.js';

describe('mprotect', () => {
  it('should write-protect populated entries and restore write for exclusive anonymous pages', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const a = await mapAnon(mm, 2);
    await mm.write(a, 1);
    expect(await mm.mprotect(a, 2 * k.pageSize, PROT_READ)).toBe(0);
    expect(pteWrite(mm.pte(a))).toBe(false);
    expect(await mm.mprotect(a, 2 * k.pageSize, PROT_READ | PROT_WRITE)).toBe(0);
    expect(pteWrite(mm.pte(a))).toBe(true);
  });

  it('should leave PROT_NONE entries present but inaccessible', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 1);
    await mm.mprotect(a, k.pageSize, PROT_NONE);
    expect(pteFlags(mm.pte(a)) & PTE_PROTNONE).toBe(PTE_PROTNONE);
    await mm.mprotect(a, k.pageSize, PROT_READ);
    expect(await mm.read(a)).toBe(1);
  });

  it('should send no invalidation for a VMA without entries', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const a = await mapAnon(mm, 2);
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('n'), mm, 0, ULONG_MAX, { invalidate: () => true });
    await mm.mprotect(a, 2 * k.pageSize, PROT_READ);
    expect(eventsOf(k, 'inv-start')).toEqual([]);
    expect(mm.findVma(a)?.writable).toBe(false);
  });

  it.each([
    ['a range with a hole', 0, 3, -ENOMEM],
    ['an unaligned address', 1, 1, -EINVAL],
  ])('should fail for %s', async (_what, off, pages, ret) => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 2);
    expect(await mm.mprotect(a + off, pages * k.pageSize, PROT_READ)).toBe(ret);
  });

  // mm/mprotect.c mprotect_fixup: `newflags == oldflags` returns at once.
  it('should change nothing and send no invalidation for the protection a VMA already has', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const a = await mapAnon(mm, 4);
    await mm.write(a, 1);
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('n'), mm, 0, ULONG_MAX, { invalidate: () => true });
    expect(await mm.mprotect(a + k.pageSize, 2 * k.pageSize, PROT_READ | PROT_WRITE)).toBe(0);
    expect(eventsOf(k, 'inv-start')).toEqual([]);
    expect(mm.vmas.length).toBe(1);
    // The twin: a real change invalidates.
    expect(await mm.mprotect(a, k.pageSize, PROT_READ)).toBe(0);
    expect(eventsOf(k, 'inv-start').length).toBe(1);
  });

  // mm/mprotect.c do_mprotect_pkey: VMA by VMA, -ENOMEM at the first hole.
  it('should change the VMAs before a hole, then fail with -ENOMEM', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 3);
    expect(await mm.munmap(a + k.pageSize, k.pageSize)).toBe(0);
    expect(await mm.mprotect(a, 3 * k.pageSize, PROT_READ)).toBe(-ENOMEM);
    expect(mm.findVma(a)?.writable).toBe(false);
    expect(mm.findVma(a + 2 * k.pageSize)?.writable).toBe(true);
  });

  it('should change nothing when the range starts in a hole', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 3);
    expect(await mm.munmap(a, k.pageSize)).toBe(0);
    expect(await mm.mprotect(a, 3 * k.pageSize, PROT_READ)).toBe(-ENOMEM);
    expect(mm.findVma(a + k.pageSize)?.writable).toBe(true);
  });
});
