import { describe, expect, it } from 'vitest';
import { EBUSY, EFAULT, EINVAL } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MigrateVma, migrateVmaFinalize, migrateVmaPages, migrateVmaSetup } from '../migrate/migrate-vma.js';
import { firstRunnable } from '../sched/decisions.js';
import { setSelect } from '../test-helpers.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, VM_MIXEDMAP } from './constants.js';
import { PTE_PRESENT, pteKindOf, ptePfn, pteWrite } from './pte.js';
import { vmInsertPage } from './vm-insert-page.js';
import type { Vma } from './vma.js';

/** Maps a device file whose mmap op inserts one zeroed kernel page per page; returns what fn saw. */
async function withDeviceFile<T>(flags: number, fn: (k: Kernel, addr: number) => Promise<T>, op?: (vma: Vma) => number): Promise<T> {
  const k = new Kernel({ pageSize: 4096, wordsPerPage: 4 });
  const mm = k.createMm();
  const file = k.createFile('/dev/test', {
    mmap:
      op ??
      ((vma) => {
        for (let a = vma.start; a < vma.end; a += k.pageSize) {
          const page = k.pages.allocPage({ zero: true });
          const r = vmInsertPage(vma, a, page);
          k.pages.putPage(page);
          if (r !== 0) return r;
        }
        return 0;
      }),
  });
  let out: { v: T } | null = null;
  k.spawn('test', 'cpu', async () => {
    const addr = await mm.mmap(0, 2 * k.pageSize, PROT_READ | PROT_WRITE, flags, file, 0);
    out = { v: await fn(k, addr) };
  });
  const r = await k.run(firstRunnable);
  expect(r.status, r.message).toBe('done');
  return (out as unknown as { v: T }).v;
}

describe('vmInsertPage', () => {
  it('should map the page read-only in a private mapping and mark the VMA VM_MIXEDMAP', async () => {
    await withDeviceFile(MAP_PRIVATE, async (k, a) => {
      const mm = k.allMms()[0];
      const e = mm?.pte(a) ?? 0;
      expect(pteKindOf(e)).toBe(PTE_PRESENT);
      expect(pteWrite(e)).toBe(false);
      expect(((mm?.lookupVma(a)?.flags ?? 0) & VM_MIXEDMAP) !== 0).toBe(true);
      expect(k.pages.page(ptePfn(e)).refcount).toBe(1);
    });
  });

  it('should map the page writable in a shared writable mapping', async () => {
    await withDeviceFile(MAP_SHARED, async (k, a) => {
      expect(pteWrite(k.allMms()[0]?.pte(a) ?? 0)).toBe(true);
    });
  });

  it('should copy on a write to a private mapping, leaving the inserted page alone', async () => {
    await withDeviceFile(MAP_PRIVATE, async (k, a) => {
      const mm = k.allMms()[0];
      if (mm === undefined) throw new Error('no mm');
      const inserted = ptePfn(mm.pte(a));
      await mm.write(a, 5);
      expect(ptePfn(mm.pte(a))).not.toBe(inserted);
      expect(k.pages.page(inserted).words[0]).toBe(0);
      expect(await mm.read(a)).toBe(5);
    });
  });

  it.each([
    { what: 'an address outside the VMA', ret: -EFAULT, at: (v: Vma) => v.end },
    { what: 'an address already mapped', ret: -EBUSY, at: (v: Vma) => v.start },
  ])('should return $ret for $what', async ({ ret, at }) => {
    let got = 0;
    await withDeviceFile(
      MAP_PRIVATE,
      async () => got,
      (vma) => {
        const k = vma.mm?.kernel as Kernel;
        const first = k.pages.allocPage();
        expect(vmInsertPage(vma, vma.start, first)).toBe(0);
        k.pages.putPage(first);
        const second = k.pages.allocPage();
        got = vmInsertPage(vma, at(vma), second);
        k.pages.putPage(second);
        return 0;
      },
    );
    expect(got).toBe(ret);
  });

  it('should unmap the region and return the error when the mmap op fails', async () => {
    const ret = await withDeviceFile(
      MAP_PRIVATE,
      async (_k, a) => a,
      () => -EINVAL,
    );
    expect(ret).toBe(-EINVAL);
  });

  // mm/migrate_device.c migrate_vma_setup: a VM_SPECIAL VMA (here VM_MIXEDMAP) is refused.
  it.each([
    ['the VM_MIXEDMAP mapping of a device file', true, -EINVAL, 0],
    ['an anonymous mapping of the same kernel', false, 0, 2],
  ] as const)('should answer migrate_vma_setup of %s with %i', async (_what, special, want, cpages) => {
    await withDeviceFile(MAP_PRIVATE, async (k, a) => {
      const mm = k.allMms()[0];
      if (mm === undefined) throw new Error('no mm');
      let start = a;
      if (!special) {
        start = await mm.mmap(0, 2 * k.pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        await mm.write(start, 1);
        await mm.write(start + k.pageSize, 2);
      }
      await mm.mmapLock.downRead();
      const args = new MigrateVma({ vma: mm.findVma(start) ?? null, start, end: start + 2 * k.pageSize, src: [0, 0], dst: [0, 0] });
      setSelect(mm, args, 'owner', 'system');
      expect(await migrateVmaSetup(args)).toBe(want);
      expect(args.cpages).toBe(cpages);
      if (want === 0) {
        await migrateVmaPages(args);
        migrateVmaFinalize(args);
      }
      mm.mmapLock.upRead();
    });
  });
});
