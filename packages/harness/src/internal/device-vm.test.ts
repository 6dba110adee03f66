/**
 * The device's page size: a TLB entry caches a whole granule and a flush evicts every granule it
 * touches, while a device of the default page size caches and evicts CPU page by CPU page.
 */
import {
  firstRunnable,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnToPage,
  Kernel,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  ULONG_MAX,
} from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { Device } from './device.js';
import type { DeviceVm } from './device-vm.js';
import { defineDriver } from './driver.js';
import { hmmRangeFaultLoop } from './helpers/range-fault.js';
import { runScenario } from './runner.js';
import type { Scenario } from './scenario.js';

const KIB = 1024;

/** How the test mirror's device is built and how its callback unmaps. */
interface Variant {
  /** The device's walk cache span, if it has one. */
  readonly walkSpan?: number;
  /** The callback frees the page-table pages the range covers before clearing what is left. */
  readonly freeTables?: boolean;
  /** The callback's flush is leaf-only. */
  readonly leafOnly?: boolean;
}

/**
 * A mirror whose device fault maps the faulting page and the next one, and whose callback clears
 * the invalidated range and flushes exactly it.
 */
function granuleDriver(pageSize: number | undefined, variant: Variant = {}) {
  return defineDriver({
    name: 'granule-mirror',
    probe(kernel: Kernel) {
      const dev = new Device(kernel, {
        name: 'g0',
        ...(pageSize === undefined ? {} : { pageSize }),
        ...(variant.walkSpan === undefined ? {} : { walkCache: { span: variant.walkSpan } }),
      });
      return {
        devices: [dev],
        async bind(mm) {
          const lock = kernel.mutex('g.lock');
          const mni = new MmuIntervalNotifier('g');
          const ps = kernel.pageSize;
          const vm: DeviceVm = dev.createVm(mm, {
            fault(v, f) {
              const start = f.va - (f.va % ps);
              return hmmRangeFaultLoop({
                mm,
                range: {
                  notifier: mni,
                  notifierSeq: 0,
                  start,
                  end: start + 2 * ps,
                  hmmPfns: [0, 0],
                  defaultFlags: HMM_PFN_REQ_FAULT,
                  pfnFlagsMask: 0,
                  devPrivateOwner: dev.owner,
                },
                lock: () => lock.lock(),
                unlock: () => lock.unlock(),
                commit(r) {
                  for (let i = 0; i < 2; i++) {
                    const e = r.hmmPfns[i] as number;
                    if ((e & HMM_PFN_VALID) !== 0) v.setPte(start + i * ps, hmmPfnToPage(kernel, e), { write: (e & HMM_PFN_WRITE) !== 0 });
                  }
                },
              });
            },
          });
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
            async invalidate(sub, range, curSeq) {
              await lock.lock();
              mmuIntervalSetSeq(sub, curSeq);
              if (variant.freeTables === true) vm.freeTables(range.start, range.end);
              vm.clearRange(range.start, range.end);
              vm.flushTlb(range.start, range.end, { leafOnly: variant.leafOnly ?? false });
              lock.unlock();
              return true;
            },
          });
          return { vms: [vm] };
        },
      };
    },
  });
}

/** 32 pages from the top of the address space: two 64 KiB granules, pages 0-15 and 16-31. */
function scenario(...tasks: Scenario['tasks']): Scenario {
  return { regions: [{ pages: 32, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }], tasks };
}

/** The virtual page offsets (in the region) the device's TLB, or its walk cache's freed tables, reach when the run ends. */
async function cachedPages(
  pageSize: number | undefined,
  s: Scenario,
  variant: Variant = {},
  level: 'tlb' | 'walk' = 'tlb',
): Promise<number[]> {
  const r = await runScenario(granuleDriver(pageSize, variant), s, { decisions: firstRunnable });
  expect(r.run.status, r.run.message).toBe('done');
  const vm = r.world.binding?.vms[0] as DeviceVm;
  const base = r.world.regionBase[0] as number;
  const vpns = level === 'tlb' ? [...vm.tlb.keys()] : vm.freedTableEntries().map(([vpn]) => vpn);
  return vpns.map((vpn) => vpn - base / r.world.kernel.pageSize).sort((a, b) => a - b);
}

describe('Device pageSize', () => {
  it('should cache every mapped page of the granule an access walks, on a 64 KiB device', async () => {
    const s = scenario({ kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 4 }] });
    expect(await cachedPages(undefined, s)).toEqual([4]);
    expect(await cachedPages(64 * KIB, s)).toEqual([4, 5]);
  });

  it('should evict the whole granule a flush touches, and only the granules it touches', async () => {
    const s = scenario(
      {
        kind: 'device',
        ops: [
          { op: 'dev-read', region: 0, page: 2 },
          { op: 'dev-read', region: 0, page: 20 },
        ],
      },
      { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 5, pages: 1, advice: 'dontneed' }] },
    );
    expect(await cachedPages(undefined, s)).toEqual([2, 20]);
    expect(await cachedPages(64 * KIB, s)).toEqual([20, 21]);
    expect(await cachedPages(2048 * KIB, s)).toEqual([]);
  });

  it.each([3 * 4 * KIB, 2 * KIB, 1.5, Number.NaN])('should refuse a page size of %s with one clear line', (bad) => {
    const k = new Kernel();
    expect(() => new Device(k, { name: 'bad0', pageSize: bad })).toThrow(
      /^Device bad0: pageSize .* is not a power-of-two multiple of the kernel page size 4096; use 4096, 65536 or 2097152$/,
    );
  });

  it('should default to the kernel page size', () => {
    expect(new Device(new Kernel(), { name: 'd0' }).walkSpan).toBe(0);
    expect(new Device(new Kernel(), { name: 'd0' }).pageSize).toBe(4 * KIB);
  });
});

describe('Device walkCache', () => {
  // The device reads page 2 (its fault maps pages 2 and 3), then the CPU unmaps the first 64 KiB
  // table of the region, pages 0 to 15, which the callback frees whole.
  const s = scenario(
    { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 2 }] },
    { kind: 'cpu', ops: [{ op: 'munmap', region: 0, page: 0, pages: 16 }] },
  );
  const walk = { walkSpan: 64 * KIB, freeTables: true };

  it('should keep translating through a freed table after a leaf-only flush', async () => {
    expect(await cachedPages(undefined, s, { ...walk, leafOnly: true }, 'tlb')).toEqual([]);
    expect(await cachedPages(undefined, s, { ...walk, leafOnly: true }, 'walk')).toEqual([2, 3]);
  });

  it('should evict the freed table with a flush of every level', async () => {
    expect(await cachedPages(undefined, s, walk, 'walk')).toEqual([]);
  });

  it('should keep nothing through a table the callback cleared entry by entry', async () => {
    expect(await cachedPages(undefined, s, { walkSpan: 64 * KIB, leafOnly: true }, 'walk')).toEqual([]);
  });

  it('should refuse a span smaller than the device page with one clear line', () => {
    expect(() => new Device(new Kernel(), { name: 'w0', pageSize: 64 * KIB, walkCache: { span: 4 * KIB } })).toThrow(
      /^Device w0: walkCache.span 4096 is not a power-of-two multiple of the device page size 65536; use 2097152 for a table of 512 entries of 4 KiB$/,
    );
  });
});

describe('DeviceVm.copyMapped', () => {
  /** A run whose device mapped pages 4 and 5 of the region, traced or not; the vm and the region's address. */
  async function mapped(trace: 'ring' | 'none') {
    const s = scenario({ kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 4 }] });
    const r = await runScenario(granuleDriver(undefined), s, { decisions: firstRunnable, trace });
    expect(r.run.status, r.run.message).toBe('done');
    return { vm: r.world.binding?.vms[0] as DeviceVm, k: r.world.kernel, base: r.world.regionBase[0] as number };
  }

  for (const trace of ['ring', 'none'] as const) {
    it(`should copy what accessMapped reads and writes word by word (trace ${trace})`, async () => {
      const { vm, k, base } = await mapped(trace);
      const va = base + 4 * k.pageSize;
      const wpp = k.wordsPerPage;
      const before = k.trace.length;
      const src = Int32Array.from({ length: wpp }, (_, i) => 1000 + i);
      expect(await vm.copyMapped(va, 'write', src, 0, wpp)).toBe(true);
      for (let i = 0; i < wpp; i++) expect(vm.accessMapped(va + i * k.wordSize, 'read')).toBe(1000 + i);
      const out = new Int32Array(wpp + 2);
      expect(await vm.copyMapped(va + k.wordSize, 'read', out, 2, wpp - 1)).toBe(true);
      expect(Array.from(out.subarray(2, wpp + 1))).toEqual(Array.from(src.subarray(1)));
      // Traced, each word is one access the oracle sees; untraced, nothing is recorded.
      const accesses = 2 * wpp + (wpp - 1);
      expect(k.trace.length - before).toBe(trace === 'ring' ? accesses : 0);
      expect(await vm.copyMapped(base + 10 * k.pageSize, 'read', out, 0, 1)).toBe(false);
    });
  }

  it('should refuse words outside the buffer or across a page with one clear line', async () => {
    const { vm, k, base } = await mapped('none');
    const va = base + 4 * k.pageSize;
    await expect(vm.copyMapped(va, 'read', new Int32Array(4), 2, 4)).rejects.toThrow(/words \[2, 6\) lie outside the buffer's 4 words/);
    await expect(vm.copyMapped(va + k.pageSize - k.wordSize, 'read', new Int32Array(4), 0, 2)).rejects.toThrow(/cross a page boundary/);
  });
});

describe('DeviceVm.copyMapped between its lookup and its copy', () => {
  // Two tasks: one copies a page in through the entry of `va`, the other points that entry at
  // another page. The decisions run the copier first, then switch at the first choice.
  async function copyWhileRemapped(decisions: number[]) {
    const k = new Kernel({ trace: 'all' });
    const dev = new Device(k, { name: 'copier', tlb: false });
    const vm = dev.createVm(k.createMm());
    const before = k.pages.allocPage();
    const after = k.pages.allocPage();
    const va = 0x10000;
    vm.setPte(va, before, { write: true });
    const src = new Int32Array(k.wordsPerPage).fill(7);
    k.spawn('copy', 'device', () => vm.copyMapped(va, 'write', src, 0, k.wordsPerPage));
    // What the old page held when the entry moved.
    let atRemap: number[] = [];
    k.spawn('remap', 'device', () => {
      atRemap = Array.from(before.words);
      vm.setPte(va, after, { write: true }, 'remap');
    });
    const r = await k.run({ pick: (c) => Math.min(decisions.shift() ?? 0, c.length - 1) });
    expect(r.status, r.message).toBe('done');
    return { before: Array.from(before.words), after: Array.from(after.words), filled: Array.from(src), atRemap };
  }

  it('should let another task change the entry after the lookup, and copy to the page looked up', async () => {
    // The copier looks the entry up, then the other task runs at its preemption point.
    const r = await copyWhileRemapped([0, 1]);
    // The entry moved before the copy (the old page was still empty then), and the copy still
    // went to the page the lookup found: a write that the new page never sees.
    expect(r.atRemap).not.toEqual(r.filled);
    expect(r.before).toEqual(r.filled);
    expect(r.after).not.toEqual(r.filled);
  });

  it('should copy to the new page when the entry changed before the lookup', async () => {
    const r = await copyWhileRemapped([1]);
    expect(r.after).toEqual(r.filled);
    expect(r.before).not.toEqual(r.filled);
  });
});
