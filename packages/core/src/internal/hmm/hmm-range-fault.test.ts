import { describe, expect, it } from 'vitest';
import { EBUSY, EFAULT, EPERM } from '../errors.js';
import { Kernel, type KernelOptions } from '../kernel.js';
import { makeDeviceExclusive } from '../migrate/device-exclusive.js';
import { MigrateVma, migrateVmaFinalize, migrateVmaPages, migrateVmaSetup } from '../migrate/migrate-vma.js';
import { MADV_DONTNEED, PROT_NONE, PROT_READ, ULONG_MAX } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import { PTE_DEVICE_EXCLUSIVE, PTE_DEVICE_PRIVATE, PTE_PRESENT, PTE_SWAP, pteKindOf, ptePfn } from '../mm/pte.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert, mmuIntervalReadBegin, mmuIntervalSetSeq } from '../notifier/interval-notifier.js';
import type { ProfileName } from '../profile.js';
import { asPage, createDevice, fillDst, mapAnon, migrate, runDone, setSelect, type TestDevice } from '../test-helpers.js';
import {
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToMapOrder,
  hmmPfnToPage,
  hmmPfnToPfn,
  hmmRangeFault,
} from './hmm-range-fault.js';

interface World {
  k: Kernel;
  mm: Mm;
  base: number;
  ps: number;
  sub: MmuIntervalNotifier;
  devA: TestDevice;
  devB: TestDevice;
}

async function world(profile: ProfileName = 'latest', pages = 4, overrides: KernelOptions['profileOverrides'] = {}): Promise<World> {
  const k = new Kernel({ trace: 'all', profile, profileOverrides: overrides });
  const mm = k.createMm();
  const base = await mapAnon(mm, pages);
  const sub = new MmuIntervalNotifier('mirror');
  await mmuIntervalNotifierInsert(sub, mm, 0, ULONG_MAX, {
    invalidate(mni, _r, cur) {
      mmuIntervalSetSeq(mni, cur);
      return true;
    },
  });
  return { k, mm, base, ps: k.pageSize, sub, devA: createDevice(k, { name: 'A' }), devB: createDevice(k, { name: 'B' }) };
}

/**
 * The driver's loop (§4.5) around hmm_range_fault of `n` pages from `start`: read_begin, fault
 * under the mmap read lock, again on -EBUSY (a fault that changes a PTE invalidates the mirror's
 * own notifier, so the kernel answers -EBUSY once).
 */
async function fault(
  w: World,
  start: number,
  n: number,
  flags: number,
  owner: unknown = w.devA.owner,
  perPage?: number[],
): Promise<{ ret: number; pfns: number[]; tries: number }> {
  for (let tries = 1; ; tries++) {
    const range: HmmRange = {
      notifier: w.sub,
      notifierSeq: await mmuIntervalReadBegin(w.sub),
      start,
      end: start + n * w.ps,
      hmmPfns: perPage?.slice() ?? new Array(n).fill(0),
      defaultFlags: flags,
      pfnFlagsMask: perPage === undefined ? 0 : HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
      devPrivateOwner: owner,
    };
    await w.mm.mmapLock.downRead();
    let ret: number;
    try {
      ret = await hmmRangeFault(range);
    } finally {
      w.mm.mmapLock.upRead();
    }
    if (ret === -EBUSY && tries < 5) continue;
    return { ret, pfns: Array.from({ length: n }, (_, i) => range.hmmPfns[i] as number), tries };
  }
}

const F = HMM_PFN_REQ_FAULT;
const FW = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;

describe('hmmRangeFault (rule 8: the per-entry algorithm)', () => {
  it('should return an own device-private page as it is, without faulting it', async () => {
    const w = await world();
    await w.mm.write(w.base, 5);
    await migrate(w.devA, w.mm, w.base, w.base + w.ps, 'device');
    const devPfn = ptePfn(w.mm.pte(w.base));
    const { ret, pfns } = await fault(w, w.base, 1, FW);
    expect(ret).toBe(0);
    expect(pfns).toEqual([devPfn * 256 + (HMM_PFN_VALID | HMM_PFN_WRITE)]);
    expect(hmmPfnToPage(w.k, pfns[0] as number).isDevicePrivate).toBe(true);
    expect(w.devA.faults).toEqual([]);
    expect(pteKindOf(w.mm.pte(w.base))).toBe(PTE_DEVICE_PRIVATE);
  });

  it('should read a foreign device-private page as 0 when no fault is requested', async () => {
    const w = await world();
    await w.mm.write(w.base, 5);
    await migrate(w.devB, w.mm, w.base, w.base + w.ps, 'device');
    const { ret, pfns } = await fault(w, w.base, 1, 0);
    expect([ret, pfns]).toEqual([0, [0]]);
    expect(w.devB.faults).toEqual([]);
  });

  it("should fault a foreign device-private page back through its owner's migrateToRam", async () => {
    const w = await world();
    await w.mm.write(w.base, 5);
    await migrate(w.devB, w.mm, w.base, w.base + w.ps, 'device');
    const { ret, pfns } = await fault(w, w.base, 1, F);
    expect(ret).toBe(0);
    expect(w.devB.faults).toHaveLength(1);
    const page = hmmPfnToPage(w.k, pfns[0] as number);
    expect(page.kind).toBe('system');
    expect(page.words[0]).toBe(5);
    expect((pfns[0] as number) & HMM_PFN_VALID).toBe(HMM_PFN_VALID);
  });

  it('should return -EFAULT for a foreign device-private page on 5.14, before non-owner faulting', async () => {
    const w = await world('5.14');
    await w.mm.write(w.base, 5);
    await migrate(w.devB, w.mm, w.base, w.base + w.ps, 'device');
    expect((await fault(w, w.base, 1, F)).ret).toBe(-EFAULT);
  });

  it.each([
    ['without an owner', undefined],
    ["with the caller's own owner", 'A'],
  ] as const)('should return a foreign device-private page as it is %s under the v5.6 what-if (B7)', async (_what, who) => {
    const w = await world('latest', 4, { hmmChecksPrivateOwner: false });
    await w.mm.write(w.base, 5);
    await migrate(w.devB, w.mm, w.base, w.base + w.ps, 'device');
    const devPfn = ptePfn(w.mm.pte(w.base));
    const { ret, pfns } = await fault(w, w.base, 1, F, who === undefined ? undefined : w.devA.owner);
    expect(ret).toBe(0);
    expect(pfns).toEqual([devPfn * 256 + (HMM_PFN_VALID | HMM_PFN_WRITE)]);
    expect(w.devB.faults).toEqual([]);
  });

  it.each([
    ['no fault requested', 0, 0, 0],
    ['a read fault', F, 0, HMM_PFN_VALID],
    ['a write fault', FW, 0, HMM_PFN_VALID | HMM_PFN_WRITE],
  ])('should handle a hole with %s', async (_what, flags, ret, outFlags) => {
    const w = await world();
    const r = await fault(w, w.base, 1, flags);
    expect(r.ret).toBe(ret);
    expect((r.pfns[0] as number) & 7).toBe(outFlags);
    if (flags === F) expect(hmmPfnToPfn(r.pfns[0] as number)).toBe(w.k.pages.zeroPage.pfn);
  });

  it.each([
    ['outside any VMA', 'novma'],
    ['in a PROT_NONE VMA', 'protnone'],
  ])('should fill ERROR %s without a fault request, and return -EFAULT with one', async (_what, how) => {
    const w = await world();
    let va = w.base + 100 * w.ps;
    if (how === 'protnone') {
      await w.mm.mprotect(w.base, w.ps, PROT_NONE);
      va = w.base;
    }
    expect(await fault(w, va, 1, 0)).toEqual({ ret: 0, pfns: [HMM_PFN_ERROR], tries: 1 });
    expect((await fault(w, va, 1, F)).ret).toBe(-EFAULT);
  });

  it('should return -EPERM for a write fault on a read-only VMA', async () => {
    const w = await world();
    await w.mm.write(w.base, 1);
    await w.mm.mprotect(w.base, w.ps, PROT_READ);
    expect((await fault(w, w.base, 1, F)).ret).toBe(0);
    expect((await fault(w, w.base, 1, FW)).ret).toBe(-EPERM);
  });

  it('should report a present read-only entry without WRITE, and fault it writable on request', async () => {
    const w = await world();
    await w.mm.write(w.base, 1);
    const child = await w.mm.fork(); // write-protects the parent
    expect((await fault(w, w.base, 1, F)).pfns[0]).toBe(ptePfn(w.mm.pte(w.base)) * 256 + HMM_PFN_VALID);
    const r = await fault(w, w.base, 1, FW);
    expect([r.ret, r.tries]).toEqual([0, 2]); // the COW fault invalidated the mirror once
    expect((r.pfns[0] as number) & HMM_PFN_WRITE).toBe(HMM_PFN_WRITE);
    expect(hmmPfnToPfn(r.pfns[0] as number)).not.toBe(ptePfn(child.pte(w.base)));
    expect(hmmPfnToMapOrder(r.pfns[0] as number)).toBe(0);
  });

  it.each([
    ['a swap entry', PTE_SWAP],
    ['a device-exclusive entry', PTE_DEVICE_EXCLUSIVE],
  ])('should read %s as 0 without a fault request and fault it in with one', async (_what, kind) => {
    const w = await world();
    await w.mm.write(w.base, 9);
    if (kind === PTE_SWAP) await w.mm.reclaim(w.base);
    else {
      await w.mm.mmapLock.downRead();
      const p = asPage(await makeDeviceExclusive(w.mm, w.base, w.devA.owner));
      w.mm.mmapLock.upRead();
      w.k.pages.unlockPage(p);
      w.k.pages.putPage(p);
    }
    expect(pteKindOf(w.mm.pte(w.base))).toBe(kind);
    expect(await fault(w, w.base, 1, 0)).toEqual({ ret: 0, pfns: [0], tries: 1 });
    const r = await fault(w, w.base, 1, F);
    expect(r.ret).toBe(0);
    expect(pteKindOf(w.mm.pte(w.base))).toBe(PTE_PRESENT);
    expect(hmmPfnToPage(w.k, r.pfns[0] as number).words[0]).toBe(9);
  });

  it('should fault from the first page whose per-page request asks for it to the end of the walk step (hmm_vma_fault)', async () => {
    const w = await world();
    await w.mm.write(w.base, 1);
    const r = await fault(w, w.base, 4, 0, w.devA.owner, [0, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE, 0, 0]);
    expect(r.ret).toBe(0);
    // Page 0 needs nothing and is reported as it is; pages 1-3 are all faulted writable, though
    // only page 1 asked (mm/hmm.c hmm_vma_fault loops handle_mm_fault up to the step's end).
    expect(r.pfns.map((p) => p & 7)).toEqual(new Array(4).fill(HMM_PFN_VALID | HMM_PFN_WRITE));
    expect([0, 1, 2, 3].map((i) => w.mm.pte(w.base + i * w.ps) !== 0)).toEqual([true, true, true, true]);
  });

  it('should not fault past the end of the range', async () => {
    const w = await world();
    const r = await fault(w, w.base, 2, 0, w.devA.owner, [HMM_PFN_REQ_FAULT, 0]);
    expect(r.ret).toBe(0);
    expect([0, 1, 2, 3].map((i) => w.mm.pte(w.base + i * w.ps) !== 0)).toEqual([true, true, false, false]);
  });

  it('should fault several holes in one call without returning -EBUSY', async () => {
    const w = await world();
    const r = await fault(w, w.base, 4, FW);
    expect([r.ret, r.tries]).toEqual([0, 1]);
    expect(r.pfns.every((p) => (p & 3) === 3)).toBe(true);
  });

  it('should return -EBUSY only when an invalidation collided since read_begin', async () => {
    const w = await world();
    const seq = await mmuIntervalReadBegin(w.sub);
    await w.mm.write(w.base, 1);
    await w.mm.madvise(w.base, w.ps, MADV_DONTNEED);
    const range: HmmRange = {
      notifier: w.sub,
      notifierSeq: seq,
      start: w.base,
      end: w.base + w.ps,
      hmmPfns: [0],
      defaultFlags: F,
      pfnFlagsMask: 0,
      devPrivateOwner: null,
    };
    await w.mm.mmapLock.downRead();
    expect(await hmmRangeFault(range)).toBe(-EBUSY);
    range.notifierSeq = await mmuIntervalReadBegin(w.sub);
    expect(await hmmRangeFault(range)).toBe(0);
    w.mm.mmapLock.upRead();
  });

  it('should wait on a migration entry and return once the migration is finalized', async () => {
    const w = await world('latest', 1);
    await w.mm.write(w.base, 3);
    const log: string[] = [];
    w.k.spawn('migrator', 'driver', async () => {
      await w.mm.mmapLock.downRead();
      const args = new MigrateVma({ vma: w.mm.findVma(w.base) ?? null, start: w.base, end: w.base + w.ps, src: [0], dst: [0] });
      setSelect(w.mm, args, w.devA.owner, 'system');
      await migrateVmaSetup(args);
      log.push('setup');
      await w.k.msleep(10);
      fillDst(w.mm, args, () => w.devA.allocPage(), 'test');
      await migrateVmaPages(args);
      log.push('finalize');
      migrateVmaFinalize(args);
      w.mm.mmapLock.upRead();
    });
    w.k.spawn('device', 'driver', async () => {
      await w.k.msleep(2);
      const r = await fault(w, w.base, 1, F);
      log.push(`fault ${r.ret}, ${hmmPfnToPage(w.k, r.pfns[0] as number).kind}`);
    });
    await runDone(w.k);
    expect(log).toEqual(['setup', 'finalize', 'fault 0, device-private']);
  });
});

describe('hmmRangeFault (bad input)', () => {
  it.each([
    ['an unaligned start', 1, 4096, 'ERR_UNALIGNED'],
    ['an empty range', 0, 0, 'ERR_UNALIGNED'],
  ])('should throw for %s', async (_what, off, len, code) => {
    const w = await world();
    const range: HmmRange = {
      notifier: w.sub,
      notifierSeq: 0,
      start: w.base + off,
      end: w.base + off + len,
      hmmPfns: [0],
      defaultFlags: 0,
      pfnFlagsMask: 0,
      devPrivateOwner: null,
    };
    await w.mm.mmapLock.downRead();
    await expect(hmmRangeFault(range)).rejects.toMatchObject({ code });
    w.mm.mmapLock.upRead();
  });

  it('should throw for hmmPfns shorter than the range', async () => {
    const w = await world();
    await w.mm.mmapLock.downRead();
    await expect(
      hmmRangeFault({
        notifier: w.sub,
        notifierSeq: 0,
        start: w.base,
        end: w.base + 2 * w.ps,
        hmmPfns: [0],
        defaultFlags: 0,
        pfnFlagsMask: 0,
        devPrivateOwner: null,
      }),
    ).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    w.mm.mmapLock.upRead();
  });

  // hmm_range_fault fills hmm_pfns[0..npages) (mm/hmm.c); the driver reading one entry more
  // reads past its array in C. Both a plain array of the range (its own view) and a longer one
  // (seen through a view of the range) say so; the entries of the range read as filled.
  it.each([
    ['a plain array of the range', 2],
    ['a longer plain array', 5],
  ])('should throw when the driver reads hmmPfns past the range, with %s', async (_kind, size) => {
    const w = await world();
    await w.mm.write(w.base, 1);
    await w.mm.write(w.base + w.ps, 2);
    const pfns = new Array<number>(size).fill(0);
    const range: HmmRange = {
      notifier: w.sub,
      notifierSeq: await mmuIntervalReadBegin(w.sub),
      start: w.base,
      end: w.base + 2 * w.ps,
      hmmPfns: pfns,
      defaultFlags: 0,
      pfnFlagsMask: 0,
      devPrivateOwner: null,
    };
    await w.mm.mmapLock.downRead();
    expect(await hmmRangeFault(range)).toBe(0);
    w.mm.mmapLock.upRead();
    expect(range.hmmPfns === pfns).toBe(size === 2);
    expect([range.hmmPfns.length, ((range.hmmPfns[1] as number) & HMM_PFN_VALID) !== 0]).toEqual([2, true]);
    expect(() => range.hmmPfns[2]).toThrow(/read of hmmPfns\[2\], past the range's 2 entries/);
    expect(() => {
      range.hmmPfns[2] = 0;
    }).toThrow(/write to hmmPfns\[2\], past the range/);
  });

  it('should throw when devPrivateOwner is a DevPagemap', async () => {
    const w = await world();
    await w.mm.mmapLock.downRead();
    await expect(fault(w, w.base, 1, 0, w.devA.pgmap)).rejects.toMatchObject({
      code: 'ERR_BAD_ARGUMENT',
      message: expect.stringContaining('pass pgmap.owner'),
    });
    w.mm.mmapLock.upRead();
  });

  it('should throw without the mmap lock, and for a notifier that is not inserted', async () => {
    const w = await world();
    const range: HmmRange = {
      notifier: w.sub,
      notifierSeq: 0,
      start: w.base,
      end: w.base + w.ps,
      hmmPfns: [0],
      defaultFlags: 0,
      pfnFlagsMask: 0,
      devPrivateOwner: null,
    };
    await expect(hmmRangeFault(range)).rejects.toMatchObject({ code: 'ERR_NOT_LOCKED' });
    await expect(hmmRangeFault({ ...range, notifier: new MmuIntervalNotifier('loose') })).rejects.toMatchObject({
      code: 'ERR_NOT_INSERTED',
    });
  });
});
