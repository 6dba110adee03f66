import { checkScenario } from '@hmmlab/assertions';
import '@hmmlab/assertions/vitest';
import {
  EFAULT,
  EPERM,
  firstRunnable,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_UNMAP,
  type Mm,
  oomReap,
  PROT_READ,
  PROT_WRITE,
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  pteKindOf,
  ptePfn,
  seededDecisions,
  type TraceEvent,
} from '@hmmlab/core';
import { runCampaign } from '@hmmlab/fuzz';
import {
  DEV_PTE_WRITE,
  type DeviceVm,
  defineDriver,
  devPteFlags,
  devPtePfn,
  initialValue,
  runScenario,
  type Scenario,
} from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import driver from './driver.js';
import { type DrmGpusvmRange, GPUSVM_NOTIFIER_PAGES } from './gpusvm.js';
import { XE_VRAM_PAGES, XeDevice, XeVm } from './xe-svm.js';

const PS = 4096;

interface Ctx {
  readonly k: Kernel;
  readonly mm: Mm;
  readonly vm: XeVm;
  readonly tile0: DeviceVm;
  readonly tile1: DeviceVm;
  /** `mmap` of `pages` private anonymous pages; word 0 of page `i` holds `100 + i`. */
  map(pages: number): Promise<number>;
  /** The drm_gpusvm range holding `va`. */
  range(va: number): DrmGpusvmRange;
}

/** Runs `fn` as one task with an xe VM bound to a new mm; asserts the run ends `done`. */
async function withVm(fn: (c: Ctx) => Promise<void>): Promise<Kernel> {
  const k = new Kernel({ pageSize: PS, wordsPerPage: 4, trace: 'all' });
  const instance = await driver.probe(k);
  const mm = k.createMm();
  k.spawn('test', 'cpu', async () => {
    const vm = await instance.bind(mm);
    await fn({
      k,
      mm,
      vm,
      tile0: vm.vms[0] as DeviceVm,
      tile1: vm.vms[1] as DeviceVm,
      async map(pages) {
        const a = await mm.mmap(0, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        for (let i = 0; i < pages; i++) await mm.write(a + i * PS, 100 + i);
        return a;
      },
      range(va) {
        const r = vm.gpusvm.rangeFind(va);
        if (r === undefined) throw new Error(`no drm_gpusvm range holds 0x${va.toString(16)}`);
        return r;
      },
    });
  });
  const r = await k.run(firstRunnable);
  expect(r.status, r.message).toBe('done');
  return k;
}

/** The events from the start of the first invalidation `pred` accepts to the return of its callbacks ('inv-started'). */
function callbackPhase(ev: readonly TraceEvent[], pred: (e: Extract<TraceEvent, { type: 'inv-start' }>) => boolean): TraceEvent[] {
  const start = ev.findIndex((e) => e.type === 'inv-start' && pred(e));
  expect(start).toBeGreaterThanOrEqual(0);
  const id = (ev[start] as { inv: number }).inv;
  const started = ev.findIndex((e) => e.type === 'inv-started' && e.inv === id);
  expect(started).toBeGreaterThan(start);
  return ev.slice(start, started + 1);
}

describe('xe-style', () => {
  it('should fault a whole drm_gpusvm range into the faulting tile, DMA-mapping each system page once', async () => {
    await withVm(async ({ mm, vm, tile0, tile1, map, range }) => {
      const a = await map(4);
      expect(await tile0.read(a + PS)).toBe(101);
      const r = range(a + PS);
      // The 4-page chunk fits the VMA and the notifier, so the whole range is bound at once.
      expect([r.start, r.end]).toEqual([a, a + 4 * PS]);
      expect(r.tilePresent).toBe(0b01);
      expect([0, 1, 2, 3].map((i) => devPtePfn(tile0.pte(a + i * PS)))).toEqual([0, 1, 2, 3].map((i) => ptePfn(mm.pte(a + i * PS))));
      expect(tile1.pt.size).toBe(0);
      const dev = vm.xe.tiles[0];
      expect([0, 1, 2, 3].map((i) => dev?.dma.get(ptePfn(mm.pte(a + i * PS))))).toEqual([1, 1, 1, 1]);
      // The notifier covers an aligned chunk around the range.
      const n = r.notifier;
      expect(n.end - n.begin).toBe(GPUSVM_NOTIFIER_PAGES * PS);
      expect(n.begin <= a && n.end >= a + 4 * PS).toBe(true);
    });
  });

  it('should bind the range on the second tile too, and write through it to memory the CPU reads', async () => {
    await withVm(async ({ mm, vm, tile0, tile1, map, range }) => {
      const a = await map(4);
      expect(await tile0.read(a)).toBe(100);
      await tile1.write(a + 3 * PS, 55);
      expect(range(a).tilePresent).toBe(0b11);
      expect(await mm.read(a + 3 * PS)).toBe(55);
      expect(devPtePfn(tile1.pte(a + 3 * PS))).toBe(ptePfn(mm.pte(a + 3 * PS)));
      // get_pages again for tile 1: the old DMA mappings were dropped before the new ones.
      expect(vm.xe.tiles[0]?.dma.get(ptePfn(mm.pte(a)))).toBe(1);
    });
  });

  it('should zap both tiles and wait for their TLB invalidations inside the UNMAP callback, then unmap the DMA pages', async () => {
    let a = 0;
    const k = await withVm(async ({ mm, vm, tile0, tile1, map, range }) => {
      a = await map(4);
      await tile0.read(a);
      await tile1.read(a + PS);
      const r = range(a);
      expect(await mm.munmap(a, 4 * PS)).toBe(0);
      for (const t of [tile0, tile1]) for (let i = 0; i < 4; i++) expect(t.translations(a + i * PS)).toEqual([]);
      expect(vm.xe.tiles[0]?.dma.size).toBe(0);
      expect(r.pagesValid).toBe(false);
      expect(r.unmapped).toBe(true);
      expect(await tile0.tryRead(a)).toEqual({ ok: false, errno: -EFAULT });
    });
    const phase = callbackPhase(k.trace.events(), (e) => e.event === MMU_NOTIFY_UNMAP && e.start === a);
    const at = (pred: (e: TraceEvent) => boolean): number => phase.findIndex(pred);
    const lockTaken = at((e) => e.type === 'lock' && e.op === 'acquire' && e.mode === 'write' && e.lock.includes('notifier_lock'));
    const setSeq = at((e) => e.type === 'set-seq');
    const zaps = phase.flatMap((e) => (e.type === 'dev-pte' && e.new === 0 ? [e.dev] : []));
    const completes = phase.flatMap((e) => (e.type === 'dev-tlb' && e.op === 'flush-complete' ? [e.dev] : []));
    const lastComplete = phase.findLastIndex((e) => e.type === 'dev-tlb' && e.op === 'flush-complete');
    const firstDmaUnmap = at((e) => e.type === 'dma' && e.op === 'unmap');
    expect(lockTaken).toBeGreaterThanOrEqual(0);
    expect(setSeq).toBeGreaterThan(lockTaken);
    expect(new Set(zaps)).toEqual(new Set(['xe0.tile0', 'xe0.tile1']));
    expect(zaps).toHaveLength(8);
    expect(new Set(completes)).toEqual(new Set(['xe0.tile0', 'xe0.tile1']));
    expect(firstDmaUnmap).toBeGreaterThan(lastComplete);
  });

  it('should hand a range the CPU unmapped to the garbage collector, which removes it and its empty notifier', async () => {
    await withVm(async ({ mm, vm, tile0, map }) => {
      const a = await map(4);
      await tile0.read(a);
      expect(vm.gpusvm.notifiers).toHaveLength(1);
      expect(await mm.munmap(a, 4 * PS)).toBe(0);
      // The notifier may not remove the range itself: it is still listed, marked unmapped.
      expect(vm.gpusvm.notifiers[0]?.ranges.map((r) => r.unmapped)).toEqual([true]);
      await vm.wq.flush();
      expect(vm.gpusvm.notifiers).toEqual([]);
    });
  });

  it('should not collect ranges on an mprotect, and rebind a read-only range that refuses GPU writes', async () => {
    let a = 0;
    const k = await withVm(async ({ vm, mm, tile0, map, range }) => {
      a = await map(4);
      await tile0.write(a + 2 * PS, 7);
      const r = range(a);
      expect(await mm.mprotect(a, PS, PROT_READ)).toBe(0);
      // xe zaps whole ranges: the pages mprotect left writable go too.
      expect(tile0.pt.size + tile0.tlb.size).toBe(0);
      expect(r.unmapped).toBe(false);
      await vm.wq.flush();
      expect(vm.gpusvm.notifiers[0]?.ranges).toEqual([r]);
      expect(await tile0.tryWrite(a, 1)).toEqual({ ok: false, errno: -EPERM });
      expect(await tile0.read(a)).toBe(100);
      expect(devPteFlags(tile0.pte(a)) & DEV_PTE_WRITE).toBe(0);
      // The old range no longer fits its VMA: a one-page range replaced it.
      expect([range(a).start, range(a).end]).toEqual([a, a + PS]);
      expect(await tile0.read(a + 2 * PS)).toBe(7);
      expect(devPteFlags(tile0.pte(a + 2 * PS)) & DEV_PTE_WRITE).toBe(DEV_PTE_WRITE);
    });
    const phase = callbackPhase(k.trace.events(), (e) => e.event === MMU_NOTIFY_PROTECTION_VMA);
    expect(phase.some((e) => e.type === 'dev-tlb' && e.op === 'flush-complete' && e.dev === 'xe0.tile0')).toBe(true);
  });

  it('should not skip its own MIGRATE: the range is zapped before any page is copied to VRAM', async () => {
    let a = 0;
    const k = await withVm(async ({ mm, vm, tile0, tile1, map, range }) => {
      a = await map(4);
      await tile0.read(a);
      expect(await vm.migrateToDevice(a, a + 4 * PS)).toBe(0);
      expect([0, 1, 2, 3].map((i) => pteKindOf(mm.pte(a + i * PS)))).toEqual(Array(4).fill(PTE_DEVICE_PRIVATE));
      expect(vm.xe.tiles[0]?.freePageCount).toBe(XE_VRAM_PAGES - 4);
      expect(tile0.pt.size).toBe(0);
      // Tile 1 shares the pgmap owner: it maps tile 0's VRAM pages as they are, with no DMA mapping.
      expect(await tile1.read(a + 2 * PS)).toBe(102);
      expect(devPtePfn(tile1.pte(a + 2 * PS))).toBe(ptePfn(mm.pte(a + 2 * PS)));
      expect(range(a).hasDevmemPages).toBe(true);
      expect(range(a).hasDmaMapping).toBe(false);
      expect(vm.xe.tiles[0]?.dma.size).toBe(0);
    });
    const ev = k.trace.events();
    const phase = callbackPhase(ev, (e) => e.event === MMU_NOTIFY_MIGRATE);
    expect(phase.some((e) => e.type === 'dev-pte' && e.va === a && e.new === 0)).toBe(true);
    expect(phase.some((e) => e.type === 'dev-tlb' && e.op === 'flush-complete')).toBe(true);
    const started = ev.indexOf(phase[phase.length - 1] as TraceEvent);
    const firstCopy = ev.findIndex((e) => e.type === 'page-copy' && e.by === 'xe0.tile0');
    expect(firstCopy).toBeGreaterThan(started);
  });

  it('should migrate a VRAM page back on a CPU touch and the rest through drm_gpusvm_range_evict', async () => {
    await withVm(async ({ k, mm, vm, tile0, map }) => {
      const a = await map(4);
      expect(await vm.migrateToDevice(a, a + 4 * PS)).toBe(0);
      await tile0.write(a + PS, 77);
      expect(await mm.read(a)).toBe(100);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_PRESENT);
      expect(k.pages.page(ptePfn(mm.pte(a))).kind).toBe('system');
      expect(vm.xe.tiles[0]?.freePageCount).toBe(XE_VRAM_PAGES - 3);
      // drm_pagemap_migrate_to_ram's MIGRATE reached the range: the GPU no longer maps the page.
      expect(tile0.pt.size).toBe(0);
      expect(await vm.migrateToRam(a, a + 4 * PS)).toBe(0);
      expect([0, 1, 2, 3].map((i) => pteKindOf(mm.pte(a + i * PS)))).toEqual(Array(4).fill(PTE_PRESENT));
      expect(vm.xe.tiles[0]?.freePageCount).toBe(XE_VRAM_PAGES);
      expect(await mm.read(a + PS)).toBe(77);
      expect(await tile0.read(a + PS)).toBe(77);
    });
  });

  it('should evict all of the VRAM (drm_pagemap_evict_to_ram) with the data intact', async () => {
    await withVm(async ({ mm, vm, tile1, map }) => {
      const a = await map(3);
      expect(await vm.migrateToDevice(a, a + 3 * PS)).toBe(0);
      await tile1.write(a + 2 * PS, 9);
      expect(await vm.evict()).toBe(0);
      expect([0, 1, 2].map((i) => pteKindOf(mm.pte(a + i * PS)))).toEqual(Array(3).fill(PTE_PRESENT));
      expect(vm.xe.tiles[0]?.freePageCount).toBe(XE_VRAM_PAGES);
      expect(tile1.translations(a + 2 * PS)).toEqual([]);
      expect(await mm.read(a + 2 * PS)).toBe(9);
    });
  });

  it('should return false from a non-blockable invalidation (OOM reaper) without taking the notifier lock', async () => {
    const k = await withVm(async ({ mm, tile0, map }) => {
      const a = await map(1);
      await tile0.read(a);
      expect(await oomReap(mm)).toBe(false);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_PRESENT);
      expect(devPtePfn(tile0.pte(a))).toBe(ptePfn(mm.pte(a)));
    });
    const ev = k.trace.events();
    const start = ev.findIndex((e) => e.type === 'inv-start' && !e.blockable);
    const end = ev.findIndex((e) => e.type === 'inv-end' && e.aborted);
    expect(end).toBeGreaterThan(start);
    const phase = ev.slice(start, end);
    expect(phase.flatMap((e) => (e.type === 'inv-callback' && e.phase === 'return' ? [e.result] : []))).toEqual([false]);
    expect(phase.some((e) => e.type === 'lock' || e.type === 'set-seq' || e.type === 'dev-pte')).toBe(false);
  });

  it("should zap both tiles on RELEASE at exit, before exit_mmap's UNMAP hands the ranges to the collector", async () => {
    const k = await withVm(async ({ mm, tile0, tile1, map, range }) => {
      const a = await map(2);
      await tile0.read(a);
      await tile1.read(a + PS);
      const r = range(a);
      await mm.exit();
      for (const t of [tile0, tile1]) expect(t.pt.size + t.tlb.size).toBe(0);
      expect(r.unmapped).toBe(true);
      expect(await tile0.tryRead(a)).toEqual({ ok: false, errno: -EFAULT });
    });
    const ev = k.trace.events();
    const release = callbackPhase(ev, (e) => e.event === MMU_NOTIFY_RELEASE);
    expect(release.some((e) => e.type === 'set-seq')).toBe(true);
    expect(new Set(release.flatMap((e) => (e.type === 'dev-pte' && e.new === 0 ? [e.dev] : [])))).toEqual(
      new Set(['xe0.tile0', 'xe0.tile1']),
    );
    expect(release.filter((e) => e.type === 'dev-tlb' && e.op === 'flush-complete')).toHaveLength(2);
    // The UNMAP that follows finds nothing bound: no zap, no TLB invalidation.
    const unmap = callbackPhase(ev, (e) => e.event === MMU_NOTIFY_UNMAP);
    expect(unmap.some((e) => e.type === 'dev-pte' || e.type === 'dev-tlb')).toBe(false);
  });

  const scenario: Scenario = {
    regions: [{ pages: 4, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      {
        kind: 'device',
        ops: [
          { op: 'dev-read', region: 0, page: 0 },
          { op: 'dev-write', region: 0, page: 1, value: 7 },
          { op: 'dev-read', region: 0, page: 2, device: 1 },
          { op: 'dev-atomic', region: 0, page: 3, device: 1 },
          { op: 'dev-read', region: 0, page: 0, device: 1 },
        ],
      },
      {
        kind: 'cpu',
        ops: [
          { op: 'write', region: 0, page: 1, value: 3 },
          { op: 'mprotect', region: 0, page: 2, pages: 1, prot: 'r' },
          { op: 'munmap', region: 0, page: 3, pages: 1 },
        ],
      },
      {
        kind: 'driver',
        ops: [
          { op: 'migrate-to-device', region: 0, page: 0, pages: 3 },
          { op: 'prefetch', region: 0, page: 0, pages: 2, write: false },
          { op: 'migrate-to-ram', region: 0, page: 0, pages: 2 },
          { op: 'evict' },
        ],
      },
    ],
  };

  it.each([1, 2, 3, 4, 5, 6])('should run a scenario to the end and read what the CPU wrote (seed %i)', async (seed) => {
    const r = await runScenario(driver, scenario, { decisions: seededDecisions(seed) });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.outcomes).toHaveLength(12);
    const reads = r.outcomes.filter((o) => o.op === 'dev-read');
    expect(reads.map((o) => o.status)).toEqual(['ok', 'ok', 'ok']);
    expect(reads.map((o) => o.ret)).toEqual([initialValue(0, 0), initialValue(0, 2), initialValue(0, 0)]);
  });

  it.each([1, 2, 3])('should keep the flush contract on the scenario (seed %i)', async (seed) => {
    const r = await checkScenario(driver, scenario, { decisions: seededDecisions(seed) });
    expect(r).toKeepFlushContract();
    expect(r.run.status).toBe('done');
  });

  it('should pass a short fuzz campaign on both tiles', async () => {
    const r = await runCampaign(driver, { runs: 300, seed: 7, shape: { exit: true, devices: 2 } });
    expect(r.failure?.violation ?? null).toBeNull();
    expect(r.verdict).toBe('pass');
  });

  it("should keep the collector's list under its own lock: without it, the invalidation's add races with the collector's take", async () => {
    // The invalidation adds under the notifier lock, the collector takes under vm->lock: with
    // garbage_collector.lock dropped, nothing orders the two (the same campaign as above passes).
    class UnlockedCollector extends XeVm {
      protected override gcSpinLock(): void {}
      protected override gcSpinUnlock(): void {}
    }
    const unlocked = defineDriver<XeVm>({
      ...driver,
      name: 'xe-style, garbage collector list without its lock',
      probe(kernel) {
        const xe = new XeDevice(kernel);
        return { devices: xe.tiles, bind: async (mm) => new UnlockedCollector(xe, mm) };
      },
    });
    const r = await runCampaign(unlocked, { runs: 300, seed: 7, shape: { exit: true, devices: 2 } });
    expect(r.verdict).toBe('fail');
    expect(r.failure?.violation.rule).toBe('data-race');
    expect(r.failure?.violation.explanation).toMatch(/xe svm garbage collector list/);
  });
});
