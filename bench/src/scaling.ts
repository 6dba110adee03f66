/**
 * Scaling of the model: migrating N pages to device memory and back, hmmRangeFault over N pages,
 * a sparse terabyte, and many interval notifiers. Cost should follow the pages touched.
 */
import {
  firstRunnable,
  HMM_PFN_REQ_FAULT,
  hmmRangeFault,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MEMORY_DEVICE_PRIVATE,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  MmuIntervalNotifier,
  memremapPages,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
  type Page,
  PROT_READ,
  PROT_WRITE,
  zoneDevicePageInit,
} from '@hmmlab/core';
import { Device } from '@hmmlab/harness';
import { collectBeforeTiming, memoryUsed } from './measure.js';

/** One scaling measurement. */
export interface ScalePoint {
  readonly pages: number;
  readonly ms: number;
  readonly nsPerPage: number;
  readonly bytesPerPage: number;
}

async function inTask(k: Kernel, fn: () => Promise<void>): Promise<void> {
  k.spawn('bench', 'driver', fn);
  const r = await k.run(firstRunnable, { maxSteps: 50_000_000 });
  if (r.status !== 'done') throw new Error(r.message);
}

/**
 * Migrates `n` populated pages to device-private memory and back with migrate_vma_*. With `keep`,
 * the round's kernel and migrate_vma arguments are pushed into it, to stay alive after the round
 * (see {@link residentModel}).
 */
export async function migrateRoundTrip(n: number, keep?: unknown[]): Promise<ScalePoint> {
  const before = memoryUsed();
  const k = new Kernel({ trace: 'none', wordsPerPage: 1 });
  const mm = k.createMm();
  const owner = { device: 'bench' };
  const free: Page[] = [];
  const pgmap = memremapPages(k, {
    type: MEMORY_DEVICE_PRIVATE,
    owner,
    nrPages: n,
    name: 'bench',
    ops: { pageFree: (p) => free.push(p), migrateToRam: () => 0 },
  });
  // Lowest pfn popped first. (A loop: spreading a million pages as arguments overflows the stack.)
  const pages = [...pgmap.pages];
  for (let i = pages.length - 1; i >= 0; i--) free.push(pages[i] as Page);
  let ms = 0;
  keep?.push(k, pgmap);
  await inTask(k, async () => {
    const len = n * k.pageSize;
    const a = await mm.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    for (let i = 0; i < n; i++) await mm.write(a + i * k.pageSize, i);
    collectBeforeTiming();
    const t = performance.now();
    await mm.mmapLock.downRead();
    const vma = mm.findVma(a);
    const go = async (flags: number, toDevice: boolean): Promise<void> => {
      const args = new MigrateVma({
        vma: vma ?? null,
        start: a,
        end: a + len,
        // Plain arrays of the range's entries, as drivers allocate them: the range's view is
        // the array itself (a typed array is seen through a view that checks every index).
        src: new Array<number>(n).fill(0),
        dst: new Array<number>(n).fill(0),
        pgmapOwner: owner,
        flags,
      });
      keep?.push(args);
      await migrateVmaSetup(args);
      for (let i = 0; i < args.npages; i++) {
        const s = args.src[i] as number;
        if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
        const src = migratePfnToPage(k, s);
        let dst: Page;
        if (toDevice) {
          dst = free.pop() as Page;
          zoneDevicePageInit(dst);
        } else {
          dst = k.pages.allocPage({ zero: false });
          k.pages.trylockPage(dst);
        }
        if (src !== null) k.pages.copyPage(dst, src, 'bench');
        args.dst[i] = migratePfn(dst.pfn) | (s & MIGRATE_PFN_WRITE);
      }
      await migrateVmaPages(args);
      migrateVmaFinalize(args);
    };
    await go(MIGRATE_VMA_SELECT_SYSTEM, true);
    await go(MIGRATE_VMA_SELECT_DEVICE_PRIVATE, false);
    mm.mmapLock.upRead();
    ms = performance.now() - t;
  });
  // Beyond the contents: the contents of the page's two copies (system and device) are left out.
  const bytes = memoryUsed() - before - n * 2 * k.wordsPerPage * 4;
  return { pages: n, ms, nsPerPage: (ms * 1e6) / n, bytesPerPage: Math.max(0, bytes) / n };
}

/**
 * The model objects of a small migrate round trip and hmmRangeFault, for the caller to hold while
 * it measures the scaling rounds, as a process that uses the model holds live model objects.
 *
 * The memory figure of a round needs a forced full collection before it. When nothing of the model
 * is alive at that collection, V8 frees the hidden classes (maps) of the model's objects with
 * them, and it discards every compiled function that depended on those maps. The next round then
 * runs and recompiles the model's code afresh: about 100 deoptimizations a round, and about 110 ms
 * a round whatever its size (a round of 32,768 pages took 175 ms, against 70 ms with this held).
 */
export async function residentModel(): Promise<unknown[]> {
  const keep: unknown[] = [];
  await migrateRoundTrip(64, keep);
  await rangeFault(64, keep);
  return keep;
}

/** hmmRangeFault over `n` pages: first with every page faulted in, then over present pages (`keep`: see {@link migrateRoundTrip}). */
export async function rangeFault(n: number, keep?: unknown[]): Promise<{ fault: ScalePoint; walk: ScalePoint }> {
  const k = new Kernel({ trace: 'none', wordsPerPage: 1 });
  keep?.push(k);
  const mm = k.createMm();
  const out: { fault: ScalePoint; walk: ScalePoint } = {
    fault: { pages: n, ms: 0, nsPerPage: 0, bytesPerPage: 0 },
    walk: { pages: n, ms: 0, nsPerPage: 0, bytesPerPage: 0 },
  };
  await inTask(k, async () => {
    const len = n * k.pageSize;
    const a = await mm.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const mni = new MmuIntervalNotifier('bench');
    await mmuIntervalNotifierInsert(mni, mm, a, len, {
      invalidate(sub, _r, seq) {
        mmuIntervalSetSeq(sub, seq);
        return true;
      },
    });
    for (const phase of ['fault', 'walk'] as const) {
      const t = performance.now();
      const range = {
        notifier: mni,
        notifierSeq: await mmuIntervalReadBegin(mni),
        start: a,
        end: a + len,
        hmmPfns: new Array<number>(n).fill(0),
        defaultFlags: HMM_PFN_REQ_FAULT,
        pfnFlagsMask: 0,
        devPrivateOwner: undefined,
      };
      keep?.push(range);
      await mm.mmapLock.downRead();
      const ret = await hmmRangeFault(range);
      mm.mmapLock.upRead();
      if (ret !== 0) throw new Error(`hmmRangeFault returned ${ret}`);
      const ms = performance.now() - t;
      out[phase] = { pages: n, ms, nsPerPage: (ms * 1e6) / n, bytesPerPage: 0 };
    }
  });
  return out;
}

/** Touch `touched` pages spread over a mapping of `bytes`, then unmap it: cost follows pages touched. */
export async function sparse(bytes: number, touched: number): Promise<number> {
  const k = new Kernel({ trace: 'none', wordsPerPage: 1 });
  const mm = k.createMm();
  let ms = 0;
  await inTask(k, async () => {
    collectBeforeTiming();
    const t = performance.now();
    const a = await mm.mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (a < 0) throw new Error(`mmap of ${bytes} bytes failed: ${a}`);
    const stride = Math.floor(bytes / k.pageSize / touched) * k.pageSize;
    for (let i = 0; i < touched; i++) await mm.write(a + i * stride, i);
    await mm.munmap(a, bytes);
    ms = performance.now() - t;
  });
  return ms;
}

/**
 * `count` kernels, each with a device of `pages` pages of device memory that hands out one page,
 * as every run of a campaign makes its devices: µs per kernel. The memory's pfns are reserved
 * whole, but its struct pages and free list are made as pages are used.
 */
export async function deviceSetup(pages: number, count: number): Promise<number> {
  collectBeforeTiming();
  const t = performance.now();
  for (let i = 0; i < count; i++) {
    const k = new Kernel({ trace: 'none', wordsPerPage: 1 });
    const dev = new Device(k, { name: 'gpu', memory: { type: 'private', pages, migrateToRam: () => 0 } });
    if (dev.allocPage() === null) throw new Error('a device page could not be allocated');
  }
  return ((performance.now() - t) * 1000) / count;
}

/** `notifiers` one-page interval notifiers, then 1000 one-page invalidations: ms per invalidation. */
export async function manyNotifiers(notifiers: number): Promise<number> {
  const k = new Kernel({ trace: 'none', wordsPerPage: 1 });
  const mm = k.createMm();
  let ms = 0;
  await inTask(k, async () => {
    const len = notifiers * k.pageSize;
    const a = await mm.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const ops = {
      invalidate(sub: MmuIntervalNotifier, _r: unknown, seq: number) {
        mmuIntervalSetSeq(sub, seq);
        return true;
      },
    };
    for (let i = 0; i < notifiers; i++)
      await mmuIntervalNotifierInsert(new MmuIntervalNotifier(`n${i}`), mm, a + i * k.pageSize, k.pageSize, ops);
    const rounds = 1000;
    const stride = Math.max(1, Math.floor(notifiers / rounds));
    for (let i = 0; i < rounds; i++) await mm.write(a + ((i * stride) % notifiers) * k.pageSize, i);
    collectBeforeTiming();
    const t = performance.now();
    for (let i = 0; i < rounds; i++) await mm.madvise(a + ((i * stride) % notifiers) * k.pageSize, k.pageSize, 4);
    ms = (performance.now() - t) / rounds;
  });
  return ms;
}

/**
 * The baseline of {@link migrateRoundTrip}: the same pages moved between two bare Maps (host and
 * device page tables), each move a block copy into a page from the other side's free list.
 */
export function bareMigrateRoundTrip(n: number, wordsPerPage = 1): ScalePoint {
  const host = new Map<number, Int32Array>();
  const dev = new Map<number, Int32Array>();
  const devFree: Int32Array[] = [];
  const hostFree: Int32Array[] = [];
  for (let i = 0; i < n; i++) devFree.push(new Int32Array(wordsPerPage));
  const base = 0x7f0000000;
  for (let i = 0; i < n; i++) {
    const p = new Int32Array(wordsPerPage);
    p[0] = i;
    host.set(base + i, p);
  }
  collectBeforeTiming();
  const t = performance.now();
  const move = (from: Map<number, Int32Array>, to: Map<number, Int32Array>, free: Int32Array[], freed: Int32Array[]): void => {
    for (let i = 0; i < n; i++) {
      const s = from.get(base + i) as Int32Array;
      const d = free.pop() ?? new Int32Array(wordsPerPage);
      d.set(s);
      to.set(base + i, d);
      from.delete(base + i);
      freed.push(s);
    }
  };
  move(host, dev, devFree, hostFree);
  move(dev, host, hostFree, devFree);
  const ms = performance.now() - t;
  if ((host.get(base + n - 1) as Int32Array)[0] !== n - 1) throw new Error('bare migrate lost a page');
  return { pages: n, ms, nsPerPage: (ms * 1e6) / n, bytesPerPage: 0 };
}

/**
 * The baseline of {@link rangeFault}: a walk of a bare Map page table that fills a pfn array,
 * allocating a zeroed page for each missing entry the first time, reading the entries the second.
 */
export function bareRangeWalk(n: number, wordsPerPage = 1): { fault: ScalePoint; walk: ScalePoint } {
  const pt = new Map<number, number>();
  const pages: Int32Array[] = [];
  const pfns = new Float64Array(n);
  const base = 0x7f0000000;
  const out: { fault: ScalePoint; walk: ScalePoint } = {
    fault: { pages: n, ms: 0, nsPerPage: 0, bytesPerPage: 0 },
    walk: { pages: n, ms: 0, nsPerPage: 0, bytesPerPage: 0 },
  };
  for (const phase of ['fault', 'walk'] as const) {
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      let e = pt.get(base + i);
      if (e === undefined) {
        pages.push(new Int32Array(wordsPerPage));
        e = pages.length * 4096 + 0x67;
        pt.set(base + i, e);
      }
      pfns[i] = Math.floor(e / 4096) * 4 + 3;
    }
    const ms = performance.now() - t;
    out[phase] = { pages: n, ms, nsPerPage: (ms * 1e6) / n, bytesPerPage: 0 };
  }
  if (pfns[n - 1] !== n * 4 + 3) throw new Error('bare walk missed a page');
  return out;
}
