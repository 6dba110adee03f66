import { checkScenario } from '@hmmlab/assertions';
import '@hmmlab/assertions/vitest';
import {
  EFAULT,
  EPERM,
  firstRunnable,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
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
import { DEV_PTE_WRITE, type DeviceVm, devPteFlags, devPtePfn, initialValue, runScenario, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import nouveau from '../nouveau-style/driver.js';
import driver from './driver.js';
import type { Mlx5ImplicitMr } from './odp.js';
import type { IbUmemOdp } from './umem-odp.js';

const PS = 4096;

interface Ctx {
  readonly k: Kernel;
  readonly mm: Mm;
  readonly mr: Mlx5ImplicitMr;
  readonly nic: DeviceVm;
  /** `mmap` of `pages` private anonymous pages; word 0 of page `i` holds `100 + i`. */
  map(pages: number): Promise<number>;
  /** The child MR (its `ib_umem_odp`) covering `va`. */
  umem(va: number): IbUmemOdp;
}

/** Runs `fn` as one task with an implicit ODP MR registered over a new mm; asserts the run ends `done`. */
async function withMr(fn: (c: Ctx) => Promise<void>): Promise<Kernel> {
  const k = new Kernel({ pageSize: PS, wordsPerPage: 4, trace: 'all' });
  const instance = await driver.probe(k);
  const mm = k.createMm();
  k.spawn('test', 'cpu', async () => {
    const mr = await instance.bind(mm);
    await fn({
      k,
      mm,
      mr,
      nic: mr.vm,
      async map(pages) {
        const a = await mm.mmap(0, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        for (let i = 0; i < pages; i++) await mm.write(a + i * PS, 100 + i);
        return a;
      },
      umem(va) {
        const u = mr.children
          .entries()
          .map(([, c]) => c)
          .find((c) => va >= c.begin && va < c.end);
        if (u === undefined) throw new Error(`no child MR covers 0x${va.toString(16)}`);
        return u;
      },
    });
  });
  const r = await k.run(firstRunnable);
  expect(r.status, r.message).toBe('done');
  return k;
}

/** The events of the callback phase (inv-start to inv-started) of the first invalidation `pred` accepts. */
function callbackPhase(ev: readonly TraceEvent[], pred: (e: Extract<TraceEvent, { type: 'inv-start' }>) => boolean): TraceEvent[] {
  const start = ev.findIndex((e) => e.type === 'inv-start' && pred(e));
  expect(start).toBeGreaterThanOrEqual(0);
  const id = (ev[start] as { inv: number }).inv;
  const started = ev.findIndex((e) => e.type === 'inv-started' && e.inv === id);
  expect(started).toBeGreaterThan(start);
  return ev.slice(start, started + 1);
}

describe('mlx5-odp-style', () => {
  it('should serve a NIC page fault by DMA-mapping the page and programming the MTT', async () => {
    await withMr(async ({ mm, mr, nic, map, umem }) => {
      const a = await map(4);
      expect(await nic.read(a + PS)).toBe(101);
      const pfn = ptePfn(mm.pte(a + PS));
      expect(devPtePfn(nic.pte(a + PS))).toBe(pfn);
      expect(mr.dev.dma.get(pfn)).toBe(1);
      // Only the faulting page: pagefault_real_mr maps what the fault needs.
      expect(umem(a + PS).npages).toBe(1);
      expect(nic.pt.size).toBe(1);
      await nic.write(a + 3 * PS, 42);
      expect(await mm.read(a + 3 * PS)).toBe(42);
      expect(devPteFlags(nic.pte(a + 3 * PS)) & DEV_PTE_WRITE).toBe(DEV_PTE_WRITE);
      expect(umem(a).npages).toBe(2);
    });
  });

  it('should map a whole range ahead of any access on a prefetch (ibv_advise_mr)', async () => {
    await withMr(async ({ mm, mr, nic, map, umem }) => {
      const a = await map(4);
      expect(await mr.prefetch(a, a + 3 * PS, false)).toBe(0);
      expect(umem(a).npages).toBe(3);
      expect([0, 1, 2].map((i) => devPtePfn(nic.pte(a + i * PS)))).toEqual([0, 1, 2].map((i) => ptePfn(mm.pte(a + i * PS))));
      expect(nic.pte(a + 3 * PS)).toBe(0);
      expect(mr.dev.dma.size).toBe(3);
    });
  });

  it('should zap the MTT, wait for the UMR, then remove the DMA mappings, all inside the UNMAP callback', async () => {
    let a = 0;
    const k = await withMr(async ({ mr, nic, mm, map, umem }) => {
      a = await map(4);
      await nic.read(a);
      await nic.write(a + PS, 5);
      expect(await mm.munmap(a, 2 * PS)).toBe(0);
      expect(nic.translations(a)).toEqual([]);
      expect(nic.translations(a + PS)).toEqual([]);
      expect(mr.dev.dma.size).toBe(0);
      expect(umem(a).npages).toBe(0);
      expect(umem(a).pfnList.every((e) => e === 0)).toBe(true);
      expect(await nic.tryRead(a)).toEqual({ ok: false, errno: -EFAULT });
    });
    const phase = callbackPhase(k.trace.events(), (e) => e.event === MMU_NOTIFY_UNMAP && e.start === a);
    const at = (pred: (e: TraceEvent) => boolean): number => phase.findIndex(pred);
    const lock = at((e) => e.type === 'lock' && e.op === 'acquire' && e.lock.includes('umem_mutex'));
    const setSeq = at((e) => e.type === 'set-seq');
    const zap = at((e) => e.type === 'dev-pte' && e.new === 0);
    const issue = at((e) => e.type === 'dev-tlb' && e.op === 'flush-issue');
    const complete = at((e) => e.type === 'dev-tlb' && e.op === 'flush-complete');
    const unmaps = phase.filter((e) => e.type === 'dma' && e.op === 'unmap');
    const firstUnmap = at((e) => e.type === 'dma' && e.op === 'unmap');
    const unlock = at((e) => e.type === 'lock' && e.op === 'release' && e.lock.includes('umem_mutex'));
    expect(lock).toBeGreaterThanOrEqual(0);
    expect([setSeq, zap, issue, complete, firstUnmap, unlock].every((x, i, xs) => x > (i === 0 ? lock : (xs[i - 1] as number)))).toBe(true);
    expect(unmaps).toHaveLength(2);
  });

  it('should write-protect by zapping on mprotect, mark written pages dirty, and refuse a NIC write afterwards', async () => {
    await withMr(async ({ k, mm, nic, map, umem }) => {
      const a = await map(2);
      await nic.write(a, 8);
      const page = k.pages.page(ptePfn(mm.pte(a)));
      page.dirty = false;
      expect(await mm.mprotect(a, 2 * PS, PROT_READ)).toBe(0);
      expect(nic.translations(a)).toEqual([]);
      // ib_umem_odp_unmap_dma_pages: the NIC may have written the page.
      expect(page.dirty).toBe(true);
      expect(umem(a).npages).toBe(0);
      expect(await nic.tryWrite(a, 9)).toEqual({ ok: false, errno: -EPERM });
      expect(await nic.read(a)).toBe(8);
      expect(devPteFlags(nic.pte(a)) & DEV_PTE_WRITE).toBe(0);
    });
  });

  it('should still move the sequence but touch nothing when the child maps no page (npages == 0)', async () => {
    let a = 0;
    const k = await withMr(async ({ mm, nic, map, umem }) => {
      a = await map(4);
      await nic.read(a);
      expect(await mm.munmap(a, PS)).toBe(0);
      expect(umem(a + PS).npages).toBe(0);
      expect(await mm.mprotect(a + PS, PS, PROT_READ)).toBe(0);
      // Nothing was lost: the next NIC access faults the page in again.
      expect(await nic.read(a + PS)).toBe(101);
      expect(umem(a + PS).npages).toBe(1);
    });
    const phase = callbackPhase(k.trace.events(), (e) => e.event === MMU_NOTIFY_PROTECTION_VMA && e.start === a + PS);
    expect(phase.filter((e) => e.type === 'set-seq')).toHaveLength(1);
    expect(phase.some((e) => e.type === 'dev-pte' || e.type === 'dev-tlb' || e.type === 'dma')).toBe(false);
  });

  it('should return false from a non-blockable invalidation (OOM reaper) before taking umem_mutex', async () => {
    const k = await withMr(async ({ mm, nic, mr, map, umem }) => {
      const a = await map(1);
      await nic.read(a);
      expect(await oomReap(mm)).toBe(false);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_PRESENT);
      expect(devPtePfn(nic.pte(a))).toBe(ptePfn(mm.pte(a)));
      expect(mr.dev.dma.get(ptePfn(mm.pte(a)))).toBe(1);
      expect(umem(a).npages).toBe(1);
    });
    const ev = k.trace.events();
    const start = ev.findIndex((e) => e.type === 'inv-start' && !e.blockable);
    const end = ev.findIndex((e) => e.type === 'inv-end' && e.aborted);
    expect(end).toBeGreaterThan(start);
    const phase = ev.slice(start, end);
    expect(phase.flatMap((e) => (e.type === 'inv-callback' && e.phase === 'return' ? [e.result] : []))).toEqual([false]);
    expect(phase.some((e) => e.type === 'lock' || e.type === 'set-seq' || e.type === 'dma')).toBe(false);
  });

  it('should handle RELEASE at exit like any other event: zap and DMA unmap', async () => {
    const k = await withMr(async ({ mm, mr, nic, map, umem }) => {
      const a = await map(2);
      await nic.read(a);
      await nic.read(a + PS);
      await mm.exit();
      expect(nic.pt.size + nic.tlb.size).toBe(0);
      expect(mr.dev.dma.size).toBe(0);
      expect(umem(a).npages).toBe(0);
      expect(await nic.tryRead(a)).toEqual({ ok: false, errno: -EFAULT });
    });
    const phase = callbackPhase(k.trace.events(), (e) => e.event === MMU_NOTIFY_RELEASE);
    expect(phase.filter((e) => e.type === 'dma' && e.op === 'unmap')).toHaveLength(2);
    expect(phase.some((e) => e.type === 'dev-tlb' && e.op === 'flush-complete')).toBe(true);
  });

  it("should fault a GPU's device-private page back to RAM before the NIC maps it (no dev_private_owner)", async () => {
    await withMr(async ({ k, mm, mr, nic, map }) => {
      expect(mr.dev.pgmap).toBeNull();
      const a = await map(1);
      // A nouveau-style GPU mirroring the same process moves the page to its VRAM.
      const svmm = await (await nouveau.probe(k)).bind(mm);
      expect(await svmm.migrateToDevice(a, a + PS)).toBe(0);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_DEVICE_PRIVATE);
      expect(await nic.read(a)).toBe(100);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_PRESENT);
      expect(devPtePfn(nic.pte(a))).toBe(ptePfn(mm.pte(a)));
      expect(k.pages.page(devPtePfn(nic.pte(a))).kind).toBe('system');
    });
  });

  const scenario: Scenario = {
    regions: [{ pages: 4, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      {
        kind: 'device',
        ops: [
          { op: 'dev-read', region: 0, page: 0 },
          { op: 'dev-write', region: 0, page: 1, value: 7 },
          { op: 'dev-read', region: 0, page: 2 },
          { op: 'dev-atomic', region: 0, page: 3 },
          { op: 'dev-read', region: 0, page: 0 },
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
        ops: [{ op: 'prefetch', region: 0, page: 0, pages: 3, write: false }],
      },
      { kind: 'kernel', ops: [{ op: 'reclaim', region: 0, page: 2 }] },
    ],
  };

  it.each([1, 2, 3, 4, 5, 6])('should run a scenario to the end and read what the CPU wrote (seed %i)', async (seed) => {
    const r = await runScenario(driver, scenario, { decisions: seededDecisions(seed) });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.outcomes).toHaveLength(10);
    const reads = r.outcomes.filter((o) => o.op === 'dev-read');
    expect(reads.map((o) => o.status)).toEqual(['ok', 'ok', 'ok']);
    expect(reads.map((o) => o.ret)).toEqual([initialValue(0, 0), initialValue(0, 2), initialValue(0, 0)]);
  });

  it.each([1, 2, 3])('should keep the flush contract on the scenario (seed %i)', async (seed) => {
    const r = await checkScenario(driver, scenario, { decisions: seededDecisions(seed) });
    expect(r).toKeepFlushContract();
    expect(r.run.status).toBe('done');
  });

  it('should pass a short fuzz campaign', async () => {
    const r = await runCampaign(driver, { runs: 300, seed: 7, shape: { exit: true } });
    expect(r.failure?.violation ?? null).toBeNull();
    expect(r.verdict).toBe('pass');
  });
});
