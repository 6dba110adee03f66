import {
  EAGAIN,
  EBUSY,
  EFAULT,
  EINVAL,
  ENOENT,
  EPERM,
  firstRunnable,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Mm,
  oomReap,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type ProfileName,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  pteKindOf,
  ptePfn,
  seededDecisions,
  type TraceEvent,
  type TraceRecordMode,
  VM_MIXEDMAP,
} from '@hmmlab/core';
import { DEV_PTE_ATOMIC, DEV_PTE_WRITE, devPteFlags, devPtePfn, runScenario, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { DEVMEM_CHUNK_PAGES } from './device.js';
import type { Dmirror } from './dmirror.js';
import driver from './driver.js';
import { dmirrorProbe } from './probe.js';
import {
  HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_EXCLUSIVE,
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_FLAGS,
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_READ_UNLOCKABLE,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
} from './uapi.js';

const PS = 4096;
const WPP = 1024;

interface Ctx {
  readonly k: Kernel;
  readonly mm: Mm;
  readonly fd: Dmirror;
  /** `mmap` of `pages` private anonymous pages, filled with `word(i)` unless `fill` is false. */
  map(pages: number, opts?: { prot?: number; fill?: boolean }): Promise<number>;
  /** A user buffer of `pages` pages. */
  buf(pages: number): Int32Array;
}

/** Runs `fn` as a task with `/dev/hmm_dmirror<device>` open; asserts the run ends `done`. */
async function withDmirror(
  fn: (c: Ctx) => Promise<void>,
  opts: { profile?: ProfileName; trace?: TraceRecordMode; device?: number } = {},
): Promise<Kernel> {
  const k = new Kernel({ pageSize: PS, profile: opts.profile ?? 'latest', trace: opts.trace ?? 'none' });
  const instance = await driver.probe(k);
  const mm = k.createMm();
  k.spawn('test', 'cpu', async () => {
    const fd = await instance.bind(mm, { device: opts.device ?? 0 });
    await fn({
      k,
      mm,
      fd,
      async map(pages, o = {}) {
        const a = await mm.mmap(0, pages * PS, o.prot ?? PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        if (o.fill ?? true)
          await mm.writeRange(
            a,
            Int32Array.from({ length: pages * WPP }, (_, i) => word(i)),
          );
        return a;
      },
      buf: (pages) => new Int32Array(pages * WPP),
    });
    await fd.unbind();
  });
  const r = await k.run(firstRunnable);
  expect(r.status, r.message).toBe('done');
  return k;
}

const word = (i: number): number => 7 * i + 1;

function entries(fd: Dmirror, start: number, pages: number): number[] {
  return Array.from({ length: pages }, (_, p) => fd.pt.pte(start + p * PS));
}

describe('dmirror', () => {
  it('should fault a cold range in once and count the pages it copied (dmirror_read)', async () => {
    await withDmirror(async ({ fd, map, buf }) => {
      const a = await map(8);
      const out = buf(8);
      expect(await fd.cmd(HMM_DMIRROR_READ, { addr: a, npages: 8, ptr: out })).toEqual({ ret: 0, cpages: 8, faults: 1 });
      expect(Array.from(out.subarray(0, 3 * WPP + 2)).slice(-3)).toEqual([word(3 * WPP - 1), word(3 * WPP), word(3 * WPP + 1)]);
      expect(entries(fd, a, 8).every((e) => e !== 0)).toBe(true);
      // Warm: no fault round.
      expect(await fd.cmd(HMM_DMIRROR_READ, { addr: a, npages: 8, ptr: out })).toEqual({ ret: 0, cpages: 8, faults: 0 });
    });
  });

  it('should write through writable mirror entries (dmirror_write)', async () => {
    await withDmirror(async ({ mm, fd, map, buf }) => {
      const a = await map(4, { fill: false });
      const src = buf(4).map((_, i) => -i);
      expect(await fd.cmd(HMM_DMIRROR_WRITE, { addr: a, npages: 4, ptr: src })).toEqual({ ret: 0, cpages: 4, faults: 1 });
      expect(entries(fd, a, 4).every((e) => (devPteFlags(e) & DEV_PTE_WRITE) !== 0)).toBe(true);
      expect(Array.from(await mm.readRange(a + 2 * PS, 3))).toEqual([-2 * WPP, -2 * WPP - 1, -2 * WPP - 2]);
    });
  });

  it('should erase the mirror entries of an unmapped range, and the page after it (xa_for_each_range is inclusive)', async () => {
    await withDmirror(async ({ mm, fd, map, buf }) => {
      const a = await map(8);
      expect((await fd.cmd(HMM_DMIRROR_READ, { addr: a, npages: 8, ptr: buf(8) })).ret).toBe(0);
      expect(await mm.munmap(a + 2 * PS, 2 * PS)).toBe(0);
      expect(entries(fd, a, 8).map((e) => e !== 0)).toEqual([true, true, false, false, false, true, true, true]);
      expect((await fd.cmd(HMM_DMIRROR_READ, { addr: a, npages: 8, ptr: buf(8) })).ret).toBe(-EFAULT);
    });
  });

  it('should migrate to device memory and back to system memory', async () => {
    await withDmirror(async ({ k, mm, fd, map, buf }) => {
      const a = await map(4);
      const out = buf(4);
      expect(await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: 4, ptr: out })).toEqual({ ret: 0, cpages: 4, faults: 0 });
      expect(out[3 * WPP + 5]).toBe(word(3 * WPP + 5));
      for (let p = 0; p < 4; p++) {
        expect(pteKindOf(mm.pte(a + p * PS))).toBe(PTE_DEVICE_PRIVATE);
        // The mirror maps the device page itself (the kernel maps its backing page).
        expect(devPtePfn(fd.pt.pte(a + p * PS))).toBe(ptePfn(mm.pte(a + p * PS)));
      }
      expect(await fd.cmd(HMM_DMIRROR_MIGRATE_TO_SYS, { addr: a, npages: 4, ptr: out })).toEqual({ ret: 0, cpages: 4, faults: 0 });
      expect(pteKindOf(mm.pte(a))).toBe(PTE_PRESENT);
      expect(k.pages.page(ptePfn(mm.pte(a))).kind).toBe('system');
      expect(Array.from(await mm.readRange(a + PS, 2))).toEqual([word(WPP), word(WPP + 1)]);
    });
  });

  it('should migrate a page back on a CPU touch, erasing its mirror entry before the copy (dmirror_devmem_fault)', async () => {
    const k = await withDmirror(
      async ({ mm, fd, map, buf }) => {
        const a = await map(4);
        expect((await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: 4, ptr: buf(4) })).ret).toBe(0);
        expect(await mm.read(a + PS + 8)).toBe(word(WPP + 2));
        expect(pteKindOf(mm.pte(a + PS))).toBe(PTE_PRESENT);
        expect(entries(fd, a, 4).map((e) => e !== 0)).toEqual([true, false, true, true]);
      },
      { trace: 'all' },
    );
    const ev = k.trace.events();
    const erase = ev.findIndex((e) => e.type === 'dev-pte' && e.why === 'xa_erase');
    const copyBack = ev.findIndex((e, i) => i > erase && e.type === 'page-copy');
    expect(erase).toBeGreaterThan(0);
    expect(copyBack).toBeGreaterThan(erase);
  });

  it('should skip its own MIGRATE invalidation without set_seq, keeping the entries of pages already on the device', async () => {
    const k = await withDmirror(
      async ({ mm, fd, map, buf }) => {
        const a = await map(4);
        expect((await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: 4, ptr: buf(4) })).ret).toBe(0);
        await mm.read(a);
        const before = entries(fd, a + PS, 3);
        expect(await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: 4, ptr: buf(4) })).toEqual({ ret: 0, cpages: 4, faults: 0 });
        expect(entries(fd, a + PS, 3)).toEqual(before);
      },
      { trace: 'all' },
    );
    const migrates = k.trace.events().filter((e) => e.type === 'inv-start' && e.event === 6);
    expect(migrates.length).toBeGreaterThan(0);
    expect(k.trace.events().filter((e) => e.type === 'set-seq' && e.sub.includes('dmirror ('))).toHaveLength(0);
  });

  it('should report the HMM_DMIRROR_PROT_* byte of each page (dmirror_snapshot)', async () => {
    await withDmirror(async ({ mm, fd, map, buf }) => {
      const a = await map(5, { fill: false });
      await mm.read(a); // zero page
      await mm.write(a + PS, 1);
      await mm.write(a + 2 * PS, 2);
      expect(await mm.mprotect(a + 2 * PS, PS, PROT_READ)).toBe(0);
      await mm.write(a + 3 * PS, 3);
      expect((await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a + 3 * PS, npages: 1, ptr: buf(1) })).ret).toBe(0);
      expect(await mm.mprotect(a + 4 * PS, PS, PROT_NONE)).toBe(0);
      const m = new Uint8Array(5);
      expect(await fd.cmd(HMM_DMIRROR_SNAPSHOT, { addr: a, npages: 5, ptr: m })).toEqual({ ret: 0, cpages: 5, faults: 0 });
      expect(Array.from(m)).toEqual([
        HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ,
        HMM_DMIRROR_PROT_WRITE,
        HMM_DMIRROR_PROT_READ,
        HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE,
        HMM_DMIRROR_PROT_ERROR,
      ]);
    });
  });

  // lib/test_hmm.c dmirror_fault: hmm_range_fault over pfns[64] in 6.1, pfns[32] in NEWEST; a
  // fault that fails in a chunk mirrors none of that chunk, but keeps the chunks before it.
  it.each([
    ['6.1', 0],
    ['latest', 32],
  ] as const)('should keep the mirror entries of the chunks before a failed fault as profile %s does (%i)', async (profile, kept) => {
    await withDmirror(
      async ({ mm, fd, map, buf }) => {
        const a = await map(48);
        expect(await mm.munmap(a + 40 * PS, PS)).toBe(0);
        expect((await fd.cmd(HMM_DMIRROR_READ, { addr: a, npages: 48, ptr: buf(48) })).ret).toBe(-EFAULT);
        expect(entries(fd, a, 40).filter((e) => e !== 0).length).toBe(kept);
      },
      { profile },
    );
  });

  // lib/test_hmm.c (6.1) dmirror_exclusive: dmirror_atomic_map only when every page of the chunk
  // was made exclusive; the ones converted before a hole keep unmirrored device-exclusive entries.
  it.each([
    ['6.1', 0],
    ['5.14', 2],
  ] as const)('should mirror the pages before a hole of an EXCLUSIVE range as profile %s does (%i)', async (profile, mirrored) => {
    await withDmirror(
      async ({ mm, fd, map, buf }) => {
        const a = await map(4);
        expect(await mm.munmap(a + 2 * PS, 2 * PS)).toBe(0);
        expect((await fd.cmd(HMM_DMIRROR_EXCLUSIVE, { addr: a, npages: 4, ptr: buf(4) })).ret).toBe(-EBUSY);
        expect(pteKindOf(mm.pte(a))).toBe(PTE_DEVICE_EXCLUSIVE);
        expect(entries(fd, a, 2).filter((e) => (devPteFlags(e) & DEV_PTE_ATOMIC) !== 0).length).toBe(mirrored);
      },
      { profile },
    );
  });

  it.each(['latest', '5.14'] as const)('should map pages exclusively and lose them on a CPU touch (profile %s)', async (profile) => {
    await withDmirror(
      async ({ mm, fd, map, buf }) => {
        const a = await map(4);
        expect(await fd.cmd(HMM_DMIRROR_EXCLUSIVE, { addr: a, npages: 4, ptr: buf(4) })).toEqual({ ret: 0, cpages: 4, faults: 0 });
        expect(pteKindOf(mm.pte(a + 2 * PS))).toBe(PTE_DEVICE_EXCLUSIVE);
        expect(entries(fd, a, 4).every((e) => (devPteFlags(e) & DEV_PTE_ATOMIC) !== 0)).toBe(true);
        expect((await fd.cmd(HMM_DMIRROR_CHECK_EXCLUSIVE, { addr: a, npages: 4 })).ret).toBe(-EPERM);
        for (let p = 0; p < 4; p++) await mm.write(a + p * PS, p);
        expect(pteKindOf(mm.pte(a + 2 * PS))).toBe(PTE_PRESENT);
        expect((await fd.cmd(HMM_DMIRROR_CHECK_EXCLUSIVE, { addr: a, npages: 4 })).ret).toBe(0);
      },
      { profile },
    );
  });

  it('should evict device memory on HMM_DMIRROR_RELEASE (migrate_device_range)', async () => {
    await withDmirror(async ({ mm, fd, map, buf }) => {
      const dev = fd.mdevice.device;
      const free = dev.freePageCount;
      expect(free).toBe(DEVMEM_CHUNK_PAGES);
      const a = await map(6);
      expect((await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: 6, ptr: buf(6) })).ret).toBe(0);
      expect(dev.freePageCount).toBe(free - 6);
      expect((await fd.cmd(HMM_DMIRROR_RELEASE, { addr: a, npages: 1 })).ret).toBe(0);
      expect(dev.freePageCount).toBe(free);
      expect(entries(fd, a, 6).every((e) => e === 0)).toBe(true);
      expect(pteKindOf(mm.pte(a + 5 * PS))).toBe(PTE_PRESENT);
      expect(Array.from(await mm.readRange(a + 5 * PS, 2))).toEqual([word(5 * WPP), word(5 * WPP + 1)]);
    });
  });

  it('should fail one allocation after HMM_DMIRROR_FLAGS(FAIL_ALLOC)', async () => {
    await withDmirror(async ({ fd, map, buf }) => {
      const a = await map(2);
      expect((await fd.cmd(HMM_DMIRROR_FLAGS, { addr: a, npages: HMM_DMIRROR_FLAG_FAIL_ALLOC })).ret).toBe(0);
      expect(await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: 2, ptr: buf(2) })).toEqual({ ret: -ENOENT, cpages: 0, faults: 0 });
      expect(await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: 2, ptr: buf(2) })).toEqual({ ret: 0, cpages: 2, faults: 0 });
    });
  });

  it("should run the definition's extra commands over a range (check-exclusive, mmap of the device file, snapshot)", async () => {
    expect(driver.commands).toEqual(['check-exclusive', 'mmap', 'snapshot']);
    await withDmirror(async ({ mm, fd, map, buf }) => {
      const a = await map(3);
      expect(await fd.command('check-exclusive', a, a + 3 * PS)).toBe(0);
      expect((await fd.cmd(HMM_DMIRROR_EXCLUSIVE, { addr: a + PS, npages: 1, ptr: buf(1) })).ret).toBe(0);
      expect(await fd.command('check-exclusive', a, a + 3 * PS)).toBe(-EPERM);
      expect(await fd.command('mmap', a, a + 2 * PS)).toBe(0);
      await mm.mmapLock.downRead();
      const vma = mm.findVma(a);
      mm.mmapLock.upRead();
      expect(vma?.start === a && vma.end === a + 2 * PS && (vma.flags & VM_MIXEDMAP) !== 0).toBe(true);
      expect(await mm.read(a + PS)).toBe(0);
      expect(await fd.command('snapshot', a, a + 3 * PS)).toBe(0);
      await expect(fd.command('frobnicate', a, a + PS)).rejects.toThrow(/unknown command "frobnicate"/);
    });
  });

  it('should map the device file with vm_insert_page (dmirror_fops_mmap)', async () => {
    await withDmirror(async ({ mm, fd }) => {
      const a = await mm.mmap(0, 2 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.file, 0);
      expect(((mm.lookupVma(a)?.flags ?? 0) & VM_MIXEDMAP) !== 0).toBe(true);
      expect(await mm.read(a + PS)).toBe(0);
      const m = new Uint8Array(2);
      expect((await fd.cmd(HMM_DMIRROR_SNAPSHOT, { addr: a, npages: 2, ptr: m })).ret).toBe(0);
      expect(Array.from(m)).toEqual([HMM_DMIRROR_PROT_READ, HMM_DMIRROR_PROT_READ]);
    });
  });

  it('should refuse a non-blockable invalidation while its mutex is held (mutex_trylock)', async () => {
    let reaped: boolean | null = null;
    const k = new Kernel({ pageSize: PS, trace: 'all' });
    const instance = await driver.probe(k);
    const mm = k.createMm();
    k.spawn('test', 'cpu', async () => {
      const fd = await instance.bind(mm);
      const a = await mm.mmap(0, 2 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      await mm.write(a, 1);
      await fd.mutex.lock();
      k.spawn('oom reaper', 'kernel', async () => {
        reaped = await oomReap(mm);
      });
      await k.msleep(10);
      fd.mutex.unlock();
    });
    const r = await k.run(firstRunnable);
    expect(r.status, r.message).toBe('done');
    expect(reaped).toBe(false);
    const aborted = k.trace.events().filter((e: TraceEvent) => e.type === 'inv-end' && e.aborted);
    expect(aborted).toHaveLength(1);
    expect(-EAGAIN).toBe(-11);
  });

  it.each([
    { what: 'an unaligned addr', request: HMM_DMIRROR_READ, addr: 4, npages: 1, ret: -EINVAL },
    { what: 'zero pages', request: HMM_DMIRROR_READ, addr: 0, npages: 0, ret: -EINVAL },
    { what: 'an unknown command', request: 0x42, addr: 0, npages: 1, ret: -EINVAL },
    { what: 'HMM_DMIRROR_READ_UNLOCKABLE (no handler)', request: HMM_DMIRROR_READ_UNLOCKABLE, addr: 0, npages: 1, ret: -EINVAL },
    { what: 'a user buffer too small to read into', request: HMM_DMIRROR_READ, addr: 0, npages: 2, ptr: 1, ret: -EFAULT },
    { what: 'no user buffer to write from', request: HMM_DMIRROR_WRITE, addr: 0, npages: 1, ptr: 0, ret: -EFAULT },
  ])('should return $ret for $what', async ({ request, addr, npages, ptr, ret }) => {
    await withDmirror(async ({ fd, map, buf }) => {
      const base = await map(2);
      const user = ptr === undefined ? buf(npages) : ptr === 0 ? undefined : buf(ptr);
      const r = await fd.cmd(request, { addr: base + addr, npages, ...(user === undefined ? {} : { ptr: user }) });
      expect(r.ret).toBe(ret);
    });
  });

  it('should throw on a command argument that is not an integer', async () => {
    let thrown: unknown = null;
    await withDmirror(async ({ fd }) => {
      try {
        await fd.cmd(HMM_DMIRROR_READ, { addr: 0.5, npages: 1 });
      } catch (e) {
        thrown = e;
      }
    });
    expect(String(thrown)).toContain('must be non-negative integers');
  });

  it.each([
    {
      profile: '5.8',
      devices: 2,
      ok: [HMM_DMIRROR_MIGRATE_TO_DEV],
      einval: [HMM_DMIRROR_MIGRATE_TO_SYS, HMM_DMIRROR_EXCLUSIVE, HMM_DMIRROR_RELEASE],
    },
    {
      profile: '5.14',
      devices: 2,
      ok: [HMM_DMIRROR_EXCLUSIVE],
      einval: [HMM_DMIRROR_MIGRATE_TO_SYS, HMM_DMIRROR_RELEASE, HMM_DMIRROR_FLAGS],
    },
    { profile: '6.1', devices: 4, ok: [HMM_DMIRROR_MIGRATE_TO_SYS, HMM_DMIRROR_RELEASE], einval: [HMM_DMIRROR_FLAGS] },
    { profile: 'latest', devices: 4, ok: [HMM_DMIRROR_EXCLUSIVE, HMM_DMIRROR_FLAGS, HMM_DMIRROR_RELEASE], einval: [] },
  ] as const)('should have the commands and devices of profile $profile', async ({ profile, devices, ok, einval }) => {
    const k = new Kernel({ pageSize: PS, profile });
    expect(dmirrorProbe(k, (await import('./dmirror.js')).Dmirror).devices).toHaveLength(devices);
    await withDmirror(
      async ({ fd, map, buf }) => {
        const a = await map(1);
        for (const request of ok) expect((await fd.cmd(request, { addr: a, npages: 1, ptr: buf(1) })).ret, `command ${request}`).toBe(0);
        for (const request of einval)
          expect((await fd.cmd(request, { addr: a, npages: 1, ptr: buf(1) })).ret, `command ${request}`).toBe(-EINVAL);
      },
      { profile },
    );
  });

  it('should refuse profile seed', async () => {
    await expect(async () => driver.probe(new Kernel({ profile: 'seed' }))).rejects.toThrow(/profile seed is not supported/);
  });

  it('should run the generic actions the fuzzer calls', async () => {
    await withDmirror(async ({ fd, map }) => {
      const a = await map(3);
      expect(await fd.prefetch(a, a + 3 * PS, true)).toBe(0);
      expect(await fd.migrateToDevice(a, a + 3 * PS)).toBe(0);
      expect(await fd.migrateToRam(a, a + 3 * PS)).toBe(0);
      expect(await fd.makeExclusive(a, a + PS)).toBe(0);
      expect(await fd.migrateToDevice(a + PS, a + 3 * PS)).toBe(0);
      expect(await fd.evict()).toBe(0);
      expect(await fd.prefetch(a + 1, a + PS, false)).toBe(-EINVAL);
    });
  });

  it('should serve device accesses and driver actions of a scenario (runScenario)', async () => {
    const scenario: Scenario = {
      wordsPerPage: 4,
      regions: [{ pages: 4, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
      tasks: [
        {
          kind: 'device',
          ops: [
            { op: 'dev-write', region: 0, page: 0, value: 5 },
            { op: 'dev-read', region: 0, page: 1 },
            { op: 'dev-atomic', region: 0, page: 2 },
          ],
        },
        { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 1, pages: 2 }, { op: 'evict' }] },
        {
          kind: 'cpu',
          ops: [
            { op: 'write', region: 0, page: 3, value: 9 },
            { op: 'read', region: 0, page: 0 },
          ],
        },
      ],
    };
    for (const seed of [1, 2, 3]) {
      const r = await runScenario(driver, scenario, { decisions: seededDecisions(seed) });
      expect(r.run.status, r.run.message).toBe('done');
      expect(r.outcomes.filter((o) => o.status !== 'ok')).toEqual([]);
    }
  });
});
