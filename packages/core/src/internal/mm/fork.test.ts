import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { migratePfn } from '../migrate/migrate-pfn.js';
import { MigrateVma, migrateVmaFinalize, migrateVmaPages, migrateVmaSetup } from '../migrate/migrate-vma.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import { createDevice, eventsOf, mapAnon, setSelect } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_SHARED, PROT_READ, PROT_WRITE, ULONG_MAX, VM_DONTCOPY } from './constants.js';
import { PTE_EXCLUSIVE, PTE_SWAP, pteFlags, pteKindOf, pteWrite } from './pte.js';

describe('fork (dup_mmap)', () => {
  it('should write-protect the parent and share the pages with the child', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 5);
    const child = await mm.fork();
    expect(pteWrite(mm.pte(a))).toBe(false);
    expect(child.pageAt(a)).toBe(mm.pageAt(a));
    expect(mm.pageAt(a)?.mapcount).toBe(2);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should copy a pinned exclusive page for the child at once (copy_present_page)', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 5);
    const page = mm.pageAt(a);
    if (page === undefined) throw new Error('no page');
    page.pins = 1;
    k.pages.getPage(page);
    const child = await mm.fork();
    expect(child.pageAt(a)).not.toBe(page);
    expect(pteWrite(mm.pte(a))).toBe(true);
    expect(await child.read(a)).toBe(5);
  });

  it('should not copy VM_DONTCOPY VMAs, nor the entries of shared ones', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    const s = await mm.mmap(0, k.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    await mm.write(s, 1);
    const v = mm.findVma(a);
    if (v !== undefined) v.flags |= VM_DONTCOPY;
    const child = await mm.fork();
    expect(child.findVma(a)).toBeUndefined();
    expect(child.pte(s)).toBe(0);
    expect(await child.read(s)).toBe(1);
  });

  it('should share swap entries, each process reading the data back', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 5);
    await mm.reclaim(a);
    const child = await mm.fork();
    expect(pteKindOf(child.pte(a))).toBe(PTE_SWAP);
    expect(await child.read(a)).toBe(5);
    expect(await mm.read(a)).toBe(5);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should refuse to fork an exited mm', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    await mm.exit();
    await expect(mm.fork()).rejects.toMatchObject({ code: 'ERR_STATE' });
  });
});

describe('fork of a migration entry', () => {
  it('should make a readable-exclusive migration entry plainly readable in parent and child', async () => {
    const k = new Kernel();
    const ps = k.pageSize;
    const mm = k.createMm();
    const dev = createDevice(k);
    const a = await mapAnon(mm, 1);
    await mm.write(a, 5);
    await mm.mprotect(a, ps, PROT_READ); // exclusive anon page, read-only entry
    const args = new MigrateVma({ vma: mm.findVma(a) ?? null, start: a, end: a + ps, src: [0], dst: [0] });
    setSelect(mm, args, dev.owner, 'system');
    await mm.mmapLock.downRead();
    await migrateVmaSetup(args);
    mm.mmapLock.upRead(); // a driver that drops the lock before finalize lets fork run
    expect(pteFlags(mm.pte(a)) & PTE_EXCLUSIVE).toBe(PTE_EXCLUSIVE);
    const child = await mm.fork();
    expect([pteFlags(mm.pte(a)) & PTE_EXCLUSIVE, pteFlags(child.pte(a)) & PTE_EXCLUSIVE]).toEqual([0, 0]);
    const p = k.pages.allocPage();
    k.pages.trylockPage(p);
    k.pages.copyPage(p, mm.pageAt(a) as NonNullable<ReturnType<typeof mm.pageAt>>, 'test');
    args.dst[0] = migratePfn(p.pfn);
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    expect(p.anonExclusive).toBe(false);
    await mm.mprotect(a, ps, PROT_READ | PROT_WRITE);
    await child.mprotect(a, ps, PROT_READ | PROT_WRITE);
    await child.write(a, 6);
    expect([await mm.read(a), await child.read(a)]).toEqual([5, 6]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  // mm/memory.c copy_page_range → vma_needs_copy: no anon_vma, nothing to copy.
  it('should neither copy nor invalidate a private VMA that only ever held the zero page', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const a = await mapAnon(mm, 2);
    expect(await mm.read(a)).toBe(0);
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('n'), mm, 0, ULONG_MAX, { invalidate: () => true });
    const child = await mm.fork();
    expect(eventsOf(k, 'inv-start')).toEqual([]);
    expect(child.pte(a)).toBe(0);
    expect(await child.read(a)).toBe(0);
  });

  it('should invalidate a private VMA whose anonymous pages are gone (its anon_vma stays)', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const a = await mapAnon(mm, 2);
    await mm.write(a, 1);
    expect(await mm.madvise(a, 2 * k.pageSize, MADV_DONTNEED)).toBe(0);
    const before = eventsOf(k, 'inv-start').length;
    await mm.fork();
    expect(eventsOf(k, 'inv-start').length).toBe(before + 1);
  });
});
