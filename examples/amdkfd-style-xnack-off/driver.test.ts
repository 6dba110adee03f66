import { checkScenario } from '@hmmlab/assertions';
import '@hmmlab/assertions/vitest';
import {
  EFAULT,
  firstRunnable,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Mm,
  PROT_READ,
  PROT_WRITE,
  PTE_DEVICE_PRIVATE,
  pteKindOf,
  ptePfn,
  seededDecisions,
} from '@hmmlab/core';
import { runCampaign } from '@hmmlab/fuzz';
import { DEV_PTE_WRITE, devPteFlags, devPtePfn, initialValue, runScenario, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import type { KfdProcess } from '../amdkfd-style/process.js';
import driver from './driver.js';

const PS = 4096;

interface Ctx {
  readonly k: Kernel;
  readonly mm: Mm;
  readonly p: KfdProcess;
  /** The address of 4 private anonymous pages mapped before the bind; word 0 of page `i` holds `100 + i`. */
  readonly a: number;
}

/**
 * Maps 4 pages, binds the driver (which maps every VMA on both GPUs, as XNACK off needs), then
 * runs `fn` as one task; asserts the run ends `done`.
 */
async function withProcess(fn: (c: Ctx) => Promise<void>): Promise<{ k: Kernel; p: KfdProcess }> {
  const k = new Kernel({ pageSize: PS, wordsPerPage: 4, trace: 'all' });
  const instance = await driver.probe(k);
  const mm = k.createMm();
  let bound: KfdProcess | null = null;
  k.spawn('test', 'cpu', async () => {
    const a = await mm.mmap(0, 4 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    for (let i = 0; i < 4; i++) await mm.write(a + i * PS, 100 + i);
    const p = await instance.bind(mm);
    bound = p;
    await fn({ k, mm, p, a });
  });
  const r = await k.run(firstRunnable);
  expect(r.status, r.message).toBe('done');
  return { k, p: bound as unknown as KfdProcess };
}

describe('amdkfd-style-xnack-off', () => {
  it('should map every VMA on both GPUs at bind, so no GPU access faults', async () => {
    await withProcess(async ({ mm, p, a }) => {
      for (const vm of p.vms)
        expect([0, 1, 2, 3].map((i) => devPtePfn(vm.pte(a + i * PS)))).toEqual([0, 1, 2, 3].map((i) => ptePfn(mm.pte(a + i * PS))));
      expect(await p.vms[1]?.read(a + 3 * PS)).toBe(103);
    });
  });

  it('should fail a GPU access to memory it never mapped: faults are fatal', async () => {
    await withProcess(async ({ mm, p }) => {
      const b = await mm.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      expect(await p.vms[0]?.tryRead(b)).toEqual({ ok: false, errno: -EFAULT });
    });
  });

  it('should quiesce the queues on an eviction, keep the GPU tables (N7), and resume after the restore worker revalidated them', async () => {
    await withProcess(async ({ mm, p, a }) => {
      const before = p.vms[0]?.pte(a);
      expect(await mm.mprotect(a, PS, PROT_READ)).toBe(0);
      expect(p.hive.gpus.map((g) => g.quiesced)).toEqual([true, true]);
      expect(p.vms[0]?.pte(a)).toBe(before);
      expect(p.evictedRanges).toBe(1);
      expect(p.restoreWork.pending).toBe(true);
      // The worker revalidates both VMAs the mprotect left on both GPUs and waits for each TLB
      // flush: it takes as many model ticks as it has steps, so wait for it, not for a time.
      await p.wq.flush();
      expect(p.hive.gpus.map((g) => g.quiesced)).toEqual([false, false]);
      expect(p.evictedRanges).toBe(0);
      expect(devPteFlags(p.vms[0]?.pte(a) ?? 0) & DEV_PTE_WRITE).toBe(0);
      expect(devPteFlags(p.vms[0]?.pte(a + PS) ?? 0) & DEV_PTE_WRITE).toBe(DEV_PTE_WRITE);
      expect(await p.vms[0]?.read(a)).toBe(100);
    });
  });

  it('should make a GPU access wait while the queues are stopped, then see the revalidated page', async () => {
    await withProcess(async ({ k, mm, p, a }) => {
      k.spawn('gpu work', 'device', async () => {
        expect(await p.vms[1]?.read(a)).toBe(5);
      });
      await mm.write(a, 5);
      expect(await mm.madvise(a, PS, 4)).toBe(0); // MADV_DONTNEED: the page is gone, then refaulted zeroed
      await mm.write(a, 5);
      await k.msleep(10);
    });
  });

  it('should unmap from the GPUs at once when the CPU unmaps, without stopping the queues', async () => {
    await withProcess(async ({ mm, p, a }) => {
      expect(await mm.munmap(a + 2 * PS, 2 * PS)).toBe(0);
      expect(p.hive.gpus.map((g) => g.quiesced)).toEqual([false, false]);
      for (const vm of p.vms) expect(vm.translations(a + 3 * PS)).toEqual([]);
      expect(await p.vms[0]?.read(a)).toBe(100);
    });
  });

  it('should remap a migrated range to VRAM in the restore worker', async () => {
    await withProcess(async ({ mm, p, a }) => {
      expect(await p.migrateToDevice(a, a + 2 * PS)).toBe(0);
      expect(p.hive.gpus.map((g) => g.quiesced)).toEqual([true, true]);
      await p.wq.flush();
      expect(p.hive.gpus.map((g) => g.quiesced)).toEqual([false, false]);
      expect(pteKindOf(mm.pte(a))).toBe(PTE_DEVICE_PRIVATE);
      expect(devPtePfn(p.vms[1]?.pte(a) ?? 0)).toBe(ptePfn(mm.pte(a)));
      expect(await p.vms[1]?.read(a + PS)).toBe(101);
      expect(await mm.read(a + PS)).toBe(101);
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
          { op: 'dev-read', region: 0, page: 2, device: 1 },
          { op: 'dev-read', region: 0, page: 0, device: 1 },
        ],
      },
      {
        kind: 'cpu',
        ops: [
          { op: 'write', region: 0, page: 1, value: 3 },
          { op: 'mprotect', region: 0, page: 2, pages: 1, prot: 'r' },
          { op: 'madvise', region: 0, page: 3, pages: 1, advice: 'dontneed' },
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

  // A region moved after the bind has no ranges: a prefetch creates and lists them while the CPU
  // invalidates the new place (the range's callback reads `listed` under the range lock).
  const moved: Scenario = {
    regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      {
        kind: 'cpu',
        ops: [
          { op: 'mremap', region: 0 },
          { op: 'madvise', region: 0, page: 0, pages: 2, advice: 'dontneed' },
          { op: 'write', region: 0, page: 0, value: 5 },
          { op: 'madvise', region: 0, page: 0, pages: 2, advice: 'dontneed' },
        ],
      },
      {
        kind: 'driver',
        ops: [
          { op: 'prefetch', region: 0, page: 0, pages: 2, write: false },
          { op: 'prefetch', region: 0, page: 0, pages: 2, write: false },
          { op: 'prefetch', region: 0, page: 0, pages: 2, write: false },
        ],
      },
    ],
  };

  it.each([1, 2, 3, 4, 5, 6, 7, 8])(
    'should keep the flush contract while a prefetch lists the ranges of a moved region (seed %i)',
    async (seed) => {
      const r = await checkScenario(driver, moved, { decisions: seededDecisions(seed) });
      expect(r).toKeepFlushContract();
      expect(r.run.status).toBe('done');
      expect(r.result.outcomes.find((o) => o.op === 'mremap')?.status).toBe('ok');
    },
  );

  // The fresh place `mremap` moves region 0 to lies right below region 1 (mmap allocates top
  // down): the prefetch's new range ends where region 1's range begins, which is a neighbour, not
  // a range that raced its creation.
  const below: Scenario = {
    regions: [
      { pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' },
      { pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' },
    ],
    tasks: [
      { kind: 'cpu', ops: [{ op: 'mremap', region: 0 }] },
      {
        kind: 'driver',
        ops: [
          { op: 'prefetch', region: 0, page: 0, pages: 2, write: false },
          { op: 'prefetch', region: 0, page: 0, pages: 2, write: false },
        ],
      },
    ],
  };

  it('should create the range of a moved region right below another range', async () => {
    const rets: number[] = [];
    for (let seed = 1; seed <= 4; seed++) {
      const r = await checkScenario(driver, below, { decisions: seededDecisions(seed) });
      expect(r, `seed ${seed}`).toKeepFlushContract();
      expect(r.run.status).toBe('done');
      // A prefetch of the old place that the move empties meanwhile finds no VMA there (-EFAULT).
      for (const o of r.result.outcomes) if (o.op === 'prefetch') rets.push(o.ret ?? Number.NaN);
    }
    expect(rets.every((x) => x === 0 || x === -EFAULT)).toBe(true);
    expect(rets.filter((x) => x === 0).length).toBeGreaterThan(4);
  });

  it('should pass a short fuzz campaign on both GPUs', async () => {
    const r = await runCampaign(driver, { runs: 300, seed: 7, shape: { exit: true, devices: 2 } });
    expect(r.failure?.violation ?? null).toBeNull();
    expect(r.verdict).toBe('pass');
  });
});
