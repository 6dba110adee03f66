import { checkScenario } from '@hmmlab/assertions';
import '@hmmlab/assertions/vitest';
import {
  EFAULT,
  firstRunnable,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  type Mm,
  mmuNotifierPut,
  oomReap,
  PROT_READ,
  PROT_WRITE,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  pteKindOf,
  ptePfn,
  seededDecisions,
  type TraceEvent,
} from '@hmmlab/core';
import { runCampaign } from '@hmmlab/fuzz';
import { DEV_PTE_ATOMIC, type DeviceVm, devPteFlags, devPtePfn, initialValue, runScenario, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import driver from './driver.js';
import { NOUVEAU_VRAM_PAGES } from './drm.js';
import type { NouveauSvmm } from './svmm.js';

const PS = 4096;

interface Ctx {
  readonly k: Kernel;
  readonly mm: Mm;
  readonly svmm: NouveauSvmm;
  readonly gpu: DeviceVm;
  /** `mmap` of `pages` private anonymous pages; word 0 of page `i` holds `100 + i`. */
  map(pages: number): Promise<number>;
}

/** Runs `fn` as one task with the driver bound; asserts the run ends `done`. */
async function withSvmm(fn: (c: Ctx) => Promise<void>): Promise<Kernel> {
  const k = new Kernel({ pageSize: PS, wordsPerPage: 4, trace: 'all', profileOverrides: driver.profileOverrides ?? {} });
  const instance = await driver.probe(k);
  const mm = k.createMm();
  k.spawn('test', 'cpu', async () => {
    const svmm = await instance.bind(mm);
    await fn({
      k,
      mm,
      svmm,
      gpu: svmm.vmm,
      async map(pages) {
        const a = await mm.mmap(0, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        for (let i = 0; i < pages; i++) await mm.write(a + i * PS, 100 + i);
        return a;
      },
    });
  });
  const r = await k.run(firstRunnable);
  expect(r.status, r.message).toBe('done');
  return k;
}

const seqOf = (events: readonly TraceEvent[], pred: (e: TraceEvent) => boolean): number => events.findIndex(pred);

describe('nouveau-style', () => {
  it('should fault a page into the GPU through nouveau_range_fault and read what the CPU wrote', async () => {
    await withSvmm(async ({ mm, gpu, map }) => {
      const a = await map(2);
      expect(await gpu.read(a + PS)).toBe(101);
      expect(devPtePfn(gpu.pte(a + PS))).toBe(ptePfn(mm.pte(a + PS)));
      await gpu.write(a, 55);
      expect(await mm.read(a)).toBe(55);
    });
  });

  it('should zap and flush the GPU in the classic notifier when the CPU unmaps', async () => {
    await withSvmm(async ({ mm, gpu, map }) => {
      const a = await map(2);
      await gpu.read(a);
      expect(gpu.tlb.size).toBe(1);
      expect(await mm.munmap(a, PS)).toBe(0);
      expect(gpu.translations(a)).toEqual([]);
      expect(await gpu.tryRead(a)).toEqual({ ok: false, errno: -EFAULT });
      expect(await gpu.read(a + PS)).toBe(101);
    });
  });

  it('should refuse every non-blockable range in the classic notifier, as nouveau does (the OOM reaper skips the VMA)', async () => {
    await withSvmm(async ({ mm, gpu, map }) => {
      const a = await map(1);
      await gpu.read(a);
      expect(await oomReap(mm)).toBe(false);
      // Nothing was zapped: the CPU page and the GPU's translation of it both stay.
      expect(mm.pte(a)).not.toBe(0);
      expect(gpu.translations(a)).not.toEqual([]);
      // On the fixed kernel the interval tree's part of the refused invalidation was ended.
      expect(mm.notifierSubscriptions?.activeInvalidateRanges).toBe(0);
    });
  });

  it('should skip its own MIGRATE in the classic notifier and revoke the source page itself before the copy (A1)', async () => {
    let a = 0;
    const k = await withSvmm(async ({ mm, gpu, svmm, map }) => {
      a = await map(1);
      await gpu.write(a, 9);
      expect(await svmm.migrateToDevice(a, a + PS)).toBe(0);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_DEVICE_PRIVATE);
      // nouveau_pfns_map mapped the VRAM page right away.
      expect(devPtePfn(gpu.pte(a))).toBe(ptePfn(mm.pte(a)));
      expect(await gpu.read(a)).toBe(9);
    });
    const ev = k.trace.events();
    const start = seqOf(ev, (e) => e.type === 'inv-start' && e.event === MMU_NOTIFY_MIGRATE);
    const started = seqOf(ev, (e) => e.type === 'inv-started' && e.inv === (ev[start] as { inv: number }).inv);
    const copy = seqOf(ev, (e) => e.type === 'page-copy' && e.by === 'nouveau0');
    const zaps = ev.flatMap((e, i) => (e.type === 'dev-pte' && e.va === a && e.new === 0 ? [i] : []));
    expect(start).toBeGreaterThan(0);
    expect(zaps.some((i) => i > start && i < started)).toBe(false);
    expect(zaps.some((i) => i > started && i < copy)).toBe(true);
  });

  it('should migrate a VRAM page back on a CPU touch, clearing the GPU entry first (nouveau_dmem_migrate_to_ram)', async () => {
    await withSvmm(async ({ k, mm, gpu, svmm, map }) => {
      const a = await map(2);
      expect(await svmm.migrateToDevice(a, a + 2 * PS)).toBe(0);
      expect(await gpu.read(a + PS)).toBe(101);
      expect(await mm.read(a + PS)).toBe(101);
      expect(pteKindOf(mm.pte(a + PS))).toBe(PTE_PRESENT);
      expect(k.pages.page(ptePfn(mm.pte(a + PS))).kind).toBe('system');
      expect(gpu.translations(a + PS)).toEqual([]);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_DEVICE_PRIVATE);
    });
  });

  it('should give every VRAM page back on eviction (nouveau_dmem_evict_chunk)', async () => {
    await withSvmm(async ({ mm, svmm, map }) => {
      const a = await map(3);
      expect(await svmm.migrateToDevice(a, a + 3 * PS)).toBe(0);
      expect(svmm.drm.device.freePageCount).toBe(NOUVEAU_VRAM_PAGES - 3);
      expect(await svmm.evict()).toBe(0);
      expect([0, 1, 2].map((i) => pteKindOf(mm.pte(a + i * PS)))).toEqual([PTE_PRESENT, PTE_PRESENT, PTE_PRESENT]);
      expect(await mm.read(a + 2 * PS)).toBe(102);
      expect(svmm.drm.device.freePageCount).toBe(NOUVEAU_VRAM_PAGES);
    });
  });

  it('should do GPU atomics on a device-exclusive page and lose it when the CPU writes', async () => {
    await withSvmm(async ({ mm, gpu, map }) => {
      const a = await map(1);
      expect(await gpu.atomic(a, (x) => x + 1)).toBe(100);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_DEVICE_EXCLUSIVE);
      expect(devPteFlags(gpu.pte(a)) & DEV_PTE_ATOMIC).toBe(DEV_PTE_ATOMIC);
      await mm.write(a, 7);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_PRESENT);
      expect(gpu.translations(a)).toEqual([]);
      expect(await gpu.atomic(a, (x) => x + 1)).toBe(7);
      expect(await mm.read(a)).toBe(8);
    });
  });

  it('should tear the GPU mappings down in release, before exit_mmap unmaps', async () => {
    await withSvmm(async ({ mm, gpu, svmm, map }) => {
      const a = await map(1);
      await gpu.read(a);
      await mm.exit();
      expect(gpu.pt.size + gpu.tlb.size).toBe(0);
      expect(svmm.live).toBe(false);
      expect((await gpu.tryRead(a)).ok).toBe(false);
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
          { op: 'dev-atomic', region: 0, page: 3 },
          { op: 'dev-read', region: 0, page: 2 },
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
        ops: [
          { op: 'migrate-to-device', region: 0, page: 0, pages: 3 },
          { op: 'migrate-to-ram', region: 0, page: 0, pages: 2 },
          { op: 'evict' },
        ],
      },
    ],
  };

  it.each([1, 2, 3, 4, 5, 6])('should run a scenario to the end and read what the CPU wrote (seed %i)', async (seed) => {
    const r = await runScenario(driver, scenario, { decisions: seededDecisions(seed) });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.outcomes).toHaveLength(11);
    // Pages 0 and 2 keep the values the CPU wrote before the programs started: nothing else
    // writes them, and migrations and mprotect(r) keep data.
    const reads = r.outcomes.filter((o) => o.op === 'dev-read');
    expect(reads.map((o) => o.status)).toEqual(['ok', 'ok', 'ok']);
    expect(reads.map((o) => o.ret)).toEqual([initialValue(0, 0), initialValue(0, 2), initialValue(0, 0)]);
  });

  it.each([1, 2, 3])('should keep the flush contract on the scenario (seed %i)', async (seed) => {
    const r = await checkScenario(driver, scenario, { decisions: seededDecisions(seed) });
    expect(r).toKeepFlushContract();
    expect(r.run.status).toBe('done');
  });

  // A migration to VRAM while the CPU discards part of the region (MADV_DONTNEED): the discard's
  // CLEAR may land between migrate_vma_setup and nouveau_pfns_map, zap the migration entries, and
  // make migrate_vma_finalize free the new VRAM pages; the migration's notifier must move its
  // sequence so that the read_retry before the map sees it (else stale-install).
  const discarded: Scenario = {
    regions: [{ pages: 4, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      {
        kind: 'cpu',
        ops: [
          { op: 'madvise', region: 0, page: 0, pages: 2, advice: 'dontneed' },
          { op: 'write', region: 0, page: 1, value: 5 },
          { op: 'madvise', region: 0, page: 0, pages: 2, advice: 'dontneed' },
        ],
      },
      {
        kind: 'driver',
        ops: [
          { op: 'migrate-to-device', region: 0, page: 0, pages: 4 },
          { op: 'migrate-to-device', region: 0, page: 0, pages: 4 },
        ],
      },
    ],
  };

  it('should keep the flush contract while the CPU discards pages a migration to VRAM holds', async () => {
    for (let seed = 1; seed <= 16; seed++) {
      const r = await checkScenario(driver, discarded, { decisions: seededDecisions(seed) });
      expect(r, `seed ${seed}`).toKeepFlushContract();
      expect(r.run.status).toBe('done');
      expect(r.result.outcomes.filter((o) => o.op === 'migrate-to-device').map((o) => o.status)).toEqual(['ok', 'ok']);
    }
  });

  // The same window, met by the OOM reaper: its non-blockable UNMAP may find `svmm->mutex` taken
  // by the migration (the interval notifiers' failed trylock refuses), and the classic callback
  // refuses it anyway, so the reaper skips the VMA (`__oom_reap_task_mm` on -EAGAIN,
  // mm/oom_kill.c) and the migrations finish.
  const reaped: Scenario = {
    regions: [{ pages: 4, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      {
        kind: 'driver',
        ops: [
          { op: 'migrate-to-device', region: 0, page: 0, pages: 4 },
          { op: 'migrate-to-device', region: 0, page: 0, pages: 4 },
        ],
      },
      { kind: 'kernel', ops: [{ op: 'oom-reap' }, { op: 'oom-reap' }] },
    ],
  };

  it('should keep the flush contract while the OOM reaper comes to pages a migration to VRAM holds', async () => {
    for (let seed = 1; seed <= 16; seed++) {
      const r = await checkScenario(driver, reaped, { decisions: seededDecisions(seed) });
      expect(r, `seed ${seed}`).toKeepFlushContract();
      expect(r.run.status).toBe('done');
    }
  });

  // The kernel finding (docs/findings/classic-eagain-itree-leak.md): a GPU fault is between its
  // interval notifier's insert and its read_retry when the OOM reaper comes. The interval notifier
  // takes the new sequence, the classic callback refuses the non-blockable range, and
  // __mmu_notifier_invalidate_range_start returns -EAGAIN without ending the interval tree's part
  // (mm/mmu_notifier.c), which the reaper then never ends either (mm/oom_kill.c,
  // __oom_reap_task_mm): the fault retries and waits in mmu_interval_read_begin for ever.
  const { profileOverrides: _fixedKernel, ...onTheKernelAsItIs } = driver;
  const faultWhileReaped = (op: 'dev-read' | 'make-exclusive'): Scenario => ({
    regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      op === 'dev-read'
        ? { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0, pages: 1 }] }
        : { kind: 'driver', ops: [{ op: 'make-exclusive', region: 0, page: 0, pages: 2 }] },
      { kind: 'kernel', ops: [{ op: 'oom-reap' }] },
    ],
  });

  for (const op of ['dev-read', 'make-exclusive'] as const) {
    it(`should hang a ${op} fault on the kernel as it is when the OOM reaper comes in its window`, async () => {
      const r = await checkScenario(onTheKernelAsItIs, faultWhileReaped(op), { decisions: seededDecisions(2) });
      expect(r.run.status).toBe('deadlock');
      expect(r.run.message).toMatch(/waits for mm \d+ notifier seq/);
      expect(r.violations.map((v) => v.rule)).toEqual(['deadlock']);
    });

    it(`should finish the same ${op} fault on the fixed kernel, whatever the schedule`, async () => {
      for (let seed = 1; seed <= 16; seed++) {
        const r = await checkScenario(driver, faultWhileReaped(op), { decisions: seededDecisions(seed) });
        expect(r, `seed ${seed}`).toKeepFlushContract();
        expect(r.run.status).toBe('done');
      }
    });
  }

  it('should pass a short fuzz campaign', async () => {
    const r = await runCampaign(driver, { runs: 300, seed: 7, shape: { exit: true } });
    expect(r.failure?.violation ?? null).toBeNull();
    expect(r.verdict).toBe('pass');
  });
});

/**
 * Two GPUs of one process: GPU 1 takes a page device-exclusive while GPU 0 maps it. The
 * `MMU_NOTIFY_EXCLUSIVE` invalidation carries GPU 1's owner; GPU 0 must zap its translation, or it
 * keeps writing a page whose atomics GPU 1 now holds.
 */
describe('nouveau-style with a page another GPU takes device-exclusive', () => {
  const scenario: Scenario = {
    regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 1 }] },
      { kind: 'driver', ops: [{ op: 'make-exclusive', region: 0, page: 0, pages: 1, device: 1 }] },
    ],
  };

  it("should zap GPU 0's translation in the other GPU's EXCLUSIVE invalidation", async () => {
    const r = await checkScenario(driver, scenario, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.violations).toEqual([]);
  });

  it('should report GPU 0 keeping its translation when its callback skips every EXCLUSIVE, whatever the owner', async () => {
    const skipsEveryExclusive = {
      ...driver,
      name: 'nouveau-style-skips-every-exclusive',
      probe(kernel: Kernel) {
        const inner = driver.probe(kernel) as ReturnType<typeof driver.probe> & Awaited<ReturnType<typeof driver.probe>>;
        return {
          ...inner,
          async bind(mm: Mm, options?: { device?: number }) {
            const svmm = await inner.bind(mm, options);
            const start = svmm.invalidateRangeStart.bind(svmm);
            svmm.invalidateRangeStart = async (update) => (update.event === MMU_NOTIFY_EXCLUSIVE ? 0 : start(update));
            return svmm;
          },
        };
      },
    };
    const r = await checkScenario(skipsEveryExclusive, scenario, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['missed-flush']);
    expect(r.violations[0]?.explanation).toMatch(
      /^nouveau0 still translates 0x[0-9a-f]+ → pfn \d+ rw after MMU_NOTIFY_EXCLUSIVE \(owner of nouveau1\) changed the CPU entry to device-exclusive/,
    );
  });
});

/**
 * Closing the client frees the svmm after `mmu_notifier_put` (`nouveau_svmm_free_notifier`), and
 * every VRAM page it migrated names it as `zone_device_data`: a CPU touch after the close runs
 * `nouveau_dmem_migrate_to_ram` on it (docs/findings/nouveau-svmm-freed-under-vram.md). The
 * template brings the client's VRAM pages back before the put; nouveau 6.1 does not.
 */
describe('nouveau-style closing a client with pages in VRAM', () => {
  const scenario: Scenario = {
    regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1 }, { op: 'unbind' }] },
      { kind: 'cpu', ops: [{ op: 'read', region: 0, page: 0 }] },
    ],
  };

  it("should bring the client's VRAM pages back at close, so that a later CPU touch reads system memory", async () => {
    const r = await checkScenario(driver, scenario, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.violations).toEqual([]);
  });

  it('should report the CPU touch as a use of the freed svmm when the close leaves them in VRAM, as nouveau 6.1 does', async () => {
    const asIn61 = {
      ...driver,
      name: 'nouveau-style-6.1-close',
      probe(kernel: Kernel) {
        const inner = driver.probe(kernel) as ReturnType<typeof driver.probe> & Awaited<ReturnType<typeof driver.probe>>;
        return {
          ...inner,
          async bind(mm: Mm, options?: { device?: number }) {
            const svmm = await inner.bind(mm, options);
            // nouveau_svmm_fini: svmm->vmm = NULL, then mmu_notifier_put, nothing evicted.
            svmm.unbind = async () => {
              await svmm.release();
              mmuNotifierPut(svmm.notifier);
            };
            return svmm;
          },
        };
      },
    };
    const r = await checkScenario(asIn61, scenario, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['vm-use-after-free']);
    expect(r.violations[0]?.explanation).toMatch(
      /calls migrate_to_ram for device page pfn \d+, whose zone_device_data is the binding whose unbind returned at step \d+/,
    );
  });
});
