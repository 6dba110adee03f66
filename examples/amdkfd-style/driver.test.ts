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
} from '@hmmlab/core';
import { runCampaign } from '@hmmlab/fuzz';
import { DEV_PTE_WRITE, defineDriver, devPteFlags, devPtePfn, initialValue, runScenario, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import driver from './driver.js';
import { KFD_VRAM_PAGES } from './kfd.js';
import type { KfdProcess } from './process.js';

const PS = 4096;

interface Ctx {
  readonly k: Kernel;
  readonly mm: Mm;
  readonly p: KfdProcess;
  /** `mmap` of `pages` private anonymous pages; word 0 of page `i` holds `100 + i`. */
  map(pages: number): Promise<number>;
}

/** Runs `fn` as one task with the KFD process bound; asserts the run ends `done`. */
async function withProcess(fn: (c: Ctx) => Promise<void>): Promise<{ k: Kernel; p: KfdProcess }> {
  const k = new Kernel({ pageSize: PS, wordsPerPage: 4, trace: 'all' });
  const instance = await driver.probe(k);
  const mm = k.createMm();
  let bound: KfdProcess | null = null;
  k.spawn('test', 'cpu', async () => {
    const p = await instance.bind(mm);
    bound = p;
    await fn({
      k,
      mm,
      p,
      async map(pages) {
        const a = await mm.mmap(0, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        for (let i = 0; i < pages; i++) await mm.write(a + i * PS, 100 + i);
        return a;
      },
    });
  });
  const r = await k.run(firstRunnable);
  expect(r.status, r.message).toBe('done');
  return { k, p: bound as unknown as KfdProcess };
}

describe('amdkfd-style (XNACK on)', () => {
  it('should map the granule around a retry fault on the faulting GPU only', async () => {
    await withProcess(async ({ mm, p, map }) => {
      const a = await map(4);
      const [gpu0, gpu1] = p.vms;
      expect(await gpu1?.read(a + 2 * PS)).toBe(102);
      expect(p.ranges.map((r) => [r.begin - a, r.end - a])).toEqual([[0, 4 * PS]]);
      expect(devPtePfn(gpu1?.pte(a) ?? 0)).toBe(ptePfn(mm.pte(a)));
      expect(gpu0?.pt.size).toBe(0);
    });
  });

  it('should unmap both GPUs and wait for their TLB invalidations on mprotect, then refuse a GPU write', async () => {
    await withProcess(async ({ mm, p, map }) => {
      const a = await map(1);
      for (const vm of p.vms) await vm.write(a, 5);
      expect(await mm.mprotect(a, PS, PROT_READ)).toBe(0);
      for (const vm of p.vms) expect(vm.translations(a)).toEqual([]);
      expect(await p.vms[0]?.tryWrite(a, 6)).toEqual({ ok: false, errno: -EPERM });
      expect(await p.vms[0]?.read(a)).toBe(5);
      expect(devPteFlags(p.vms[0]?.pte(a) ?? 0) & DEV_PTE_WRITE).toBe(0);
    });
  });

  it('should treat its own MIGRATE like any eviction: unmap in the callback, before the CPU entry changes', async () => {
    let a = 0;
    const { k } = await withProcess(async ({ mm, p, map }) => {
      a = await map(1);
      await p.vms[0]?.read(a);
      expect(await p.migrateToDevice(a, a + PS)).toBe(0);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_DEVICE_PRIVATE);
      expect(p.vms[0]?.translations(a)).toEqual([]);
    });
    const ev = k.trace.events();
    const start = ev.findIndex((e) => e.type === 'inv-start' && e.event === MMU_NOTIFY_MIGRATE);
    const id = (ev[start] as { inv: number }).inv;
    const started = ev.findIndex((e) => e.type === 'inv-started' && e.inv === id);
    const inCallback = ev.slice(start, started);
    expect(inCallback.some((e) => e.type === 'set-seq')).toBe(true);
    expect(inCallback.some((e) => e.type === 'dev-pte' && e.va === a && e.new === 0)).toBe(true);
    expect(inCallback.some((e) => e.type === 'dev-tlb' && e.op === 'flush-complete')).toBe(true);
  });

  it("should let the other GPU of the hive map GPU 0's VRAM page as it is (one pgmap owner)", async () => {
    await withProcess(async ({ k, mm, p, map }) => {
      const a = await map(1);
      expect(await p.migrateToDevice(a, a + PS)).toBe(0);
      const vram = ptePfn(mm.pte(a));
      expect(k.pages.page(vram).pgmap).toBe(p.hive.gpus[0]?.pgmap);
      expect(await p.vms[1]?.read(a)).toBe(100);
      expect(devPtePfn(p.vms[1]?.pte(a) ?? 0)).toBe(vram);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_DEVICE_PRIVATE);
    });
  });

  it('should migrate VRAM back on a CPU touch and on request (svm_migrate_to_ram, svm_migrate_vram_to_ram)', async () => {
    await withProcess(async ({ k, mm, p, map }) => {
      const a = await map(2);
      expect(await p.migrateToDevice(a, a + 2 * PS)).toBe(0);
      await p.vms[0]?.write(a + PS, 77);
      expect(await mm.read(a)).toBe(100);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_PRESENT);
      expect(await p.migrateToRam(a, a + 2 * PS)).toBe(0);
      expect(k.pages.page(ptePfn(mm.pte(a + PS))).kind).toBe('system');
      expect(await mm.read(a + PS)).toBe(77);
    });
  });

  it('should evict every VRAM page of the hive', async () => {
    await withProcess(async ({ mm, p, map }) => {
      const a = await map(2);
      expect(await p.migrateToDevice(a, a + 2 * PS)).toBe(0);
      expect(p.hive.gpus[0]?.freePageCount).toBe(KFD_VRAM_PAGES - 2);
      expect(await p.evict()).toBe(0);
      expect(p.hive.gpus.map((g) => g.freePageCount)).toEqual([KFD_VRAM_PAGES, KFD_VRAM_PAGES]);
      expect([pteKindOf(mm.pte(a)), pteKindOf(mm.pte(a + PS))]).toEqual([PTE_PRESENT, PTE_PRESENT]);
      expect(await mm.read(a + PS)).toBe(101);
    });
  });

  it('should queue a range the CPU unmapped whole for the deferred worker, which removes it', async () => {
    const { p } = await withProcess(async ({ mm, p, map }) => {
      const a = await map(4);
      await p.vms[0]?.read(a);
      expect(await mm.munmap(a, 4 * PS)).toBe(0);
      expect(p.vms[0]?.translations(a)).toEqual([]);
      expect(p.ranges[0]?.removed).toBe(true);
    });
    expect(p.ranges).toEqual([]);
    expect(p.deferredRanges).toEqual([]);
  });

  it('should return false from a non-blockable invalidation (OOM reaper), leaving the range mapped', async () => {
    await withProcess(async ({ mm, p, map }) => {
      const a = await map(1);
      await p.vms[0]?.read(a);
      expect(await oomReap(mm)).toBe(false);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_PRESENT);
      expect(p.vms[0]?.pte(a)).not.toBe(0);
    });
  });

  it('should ignore RELEASE without set_seq: the release notifier called next destroys the queues before exit_mmap unmaps', async () => {
    const { k } = await withProcess(async ({ mm, p, map }) => {
      const a = await map(1);
      await p.vms[0]?.read(a);
      await mm.exit();
      expect(p.destroyed).toBe(true);
      for (const vm of p.vms) expect(vm.pt.size + vm.tlb.size).toBe(0);
      expect(await p.vms[0]?.tryRead(a)).toEqual({ ok: false, errno: -EFAULT });
    });
    const ev = k.trace.events();
    const release = ev.findIndex((e) => e.type === 'inv-start' && e.event === MMU_NOTIFY_RELEASE);
    const id = (ev[release] as { inv: number }).inv;
    const end = ev.findIndex((e) => e.type === 'inv-end' && e.inv === id);
    expect(ev.slice(release, end).filter((e) => e.type === 'set-seq')).toEqual([]);
    const released = ev.findIndex((e) => e.type === 'inv-callback' && e.op === 'release' && e.phase === 'return');
    expect(released).toBeGreaterThan(end);
    expect(ev.findIndex((e) => e.type === 'inv-start' && e.event === MMU_NOTIFY_UNMAP)).toBeGreaterThan(released);
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

  it('should pass a short fuzz campaign on both GPUs', async () => {
    const r = await runCampaign(driver, { runs: 300, seed: 7, shape: { exit: true, devices: 2 } });
    expect(r.failure?.violation ?? null).toBeNull();
    expect(r.verdict).toBe('pass');
  });

  it('should keep the deferred list under its own lock: without it, an invalidation and a fault or the worker race on it', async () => {
    // svm_range_add_list_work adds under the range's lock, the worker takes under none: with
    // deferred_list_lock dropped, nothing orders them. The same campaign of the template passes.
    const unlocked = defineDriver<KfdProcess>({
      ...driver,
      name: 'amdkfd-style, deferred list without its lock',
      async probe(kernel) {
        const inner = await driver.probe(kernel);
        return {
          ...inner,
          bind: async (mm) => Object.assign(await inner.bind(mm), { deferredSpinLock() {}, deferredSpinUnlock() {} }),
        };
      },
    });
    const [withLock, without] = [await runCampaign(driver, { runs: 1000, seed: 1 }), await runCampaign(unlocked, { runs: 1000, seed: 1 })];
    expect(withLock.verdict).toBe('pass');
    expect(without.verdict).toBe('fail');
    expect(without.failure?.violation.rule).toBe('data-race');
    expect(without.failure?.violation.explanation).toMatch(/kfd svms deferred_list/);
  });
});
