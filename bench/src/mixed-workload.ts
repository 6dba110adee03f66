/**
 * The mixed workload of faults, munmaps and invalidations, in the model and as a bare Map-based
 * page-table loop doing the same page-table work: a fault installs an entry and allocates a zeroed
 * page, mprotect rewrites half the entries inside one invalidation, munmap drops them all inside
 * another and frees the pages; every invalidation calls one notifier callback.
 */
import {
  firstRunnable,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  PROT_READ,
  PROT_WRITE,
} from '@hmmlab/core';
import { alternating, median } from './measure.js';

/** Pages per workload round. */
export const PAGES = 256;

/**
 * One round in the model: mmap, fault every page by a store, mprotect half, munmap.
 * @public `pnpm bench:compare` with `HMMLAB_COMPARE_ROUND=1` imports it from each checkout.
 */
export async function modelRound(): Promise<number> {
  const k = new Kernel({ trace: 'none', wordsPerPage: 1 });
  const mm = k.createMm();
  let calls = 0;
  k.spawn('cpu', 'cpu', async () => {
    const len = PAGES * k.pageSize;
    const a = await mm.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('bench'), mm, a, len, {
      invalidate(sub, _range, seq) {
        mmuIntervalSetSeq(sub, seq);
        calls++;
        return true;
      },
    });
    for (let i = 0; i < PAGES; i++) await mm.write(a + i * k.pageSize, i);
    await mm.mprotect(a, len / 2, PROT_READ);
    await mm.munmap(a, len);
  });
  const r = await k.run(firstRunnable);
  if (r.status !== 'done') throw new Error(r.message);
  return calls;
}

/** The same page-table work on a bare Map: entries, zeroed pages from a free list, two callback calls. */
function bareMapRound(): number {
  const pt = new Map<number, number>();
  const pages: Int32Array[] = [];
  const free: Int32Array[] = [];
  let calls = 0;
  const notify = (): void => {
    calls++;
  };
  const base = 0x7f0000000;
  for (let i = 0; i < PAGES; i++) {
    const p = free.pop() ?? new Int32Array(1);
    p.fill(0);
    p[0] = i;
    pages.push(p);
    pt.set(base + i, pages.length * 1024 + 0x19);
  }
  notify();
  for (let i = 0; i < PAGES / 2; i++) {
    const e = pt.get(base + i) as number;
    pt.set(base + i, e & ~0x08);
  }
  notify();
  for (let i = 0; i < PAGES; i++) {
    if (pt.delete(base + i)) free.push(pages[i] as Int32Array);
  }
  return calls;
}

/** The model's round against the bare loop's, measured in alternating blocks. */
export interface PairedRounds {
  /** Median time of one model round, over the blocks (ms). */
  readonly modelMedianMs: number;
  /** Median time of one bare round, over the blocks (ms). */
  readonly bareMedianMs: number;
  /** Median of the blocks' ratios (model over bare), and the lowest and highest of them. */
  readonly ratio: number;
  readonly ratioMin: number;
  readonly ratioMax: number;
  /** Blocks of each, and rounds per block. */
  readonly pairs: number;
  readonly modelRoundsPerBlock: number;
  readonly bareRoundsPerBlock: number;
}

/**
 * {@link modelRound} against {@link bareMapRound}, in `pairs` pairs of blocks of about 60 ms each,
 * the two alternating (which goes first alternates too), after a warm-up of both. Each pair gives
 * a ratio of the two sides measured within a tenth of a second of each other, so the machine's
 * speed, which moves by half over minutes on a shared machine, changes both alike; the figure is
 * the median of those ratios.
 */
export async function pairedRounds(pairs: number, warm: number): Promise<PairedRounds> {
  for (let i = 0; i < warm; i++) {
    await modelRound();
    bareMapRound();
  }
  const modelN = 1000;
  const bareN = 2000;
  const model = async (): Promise<number> => {
    const t = performance.now();
    for (let i = 0; i < modelN; i++) await modelRound();
    return (performance.now() - t) / modelN;
  };
  const bare = (): number => {
    const t = performance.now();
    for (let i = 0; i < bareN; i++) bareMapRound();
    return (performance.now() - t) / bareN;
  };
  const { first: ms, second: bs } = await alternating(pairs, model, bare);
  const ratios = ms.map((m, i) => m / (bs[i] as number));
  return {
    modelMedianMs: median(ms),
    bareMedianMs: median(bs),
    ratio: Number(median(ratios).toFixed(2)),
    ratioMin: Number(Math.min(...ratios).toFixed(2)),
    ratioMax: Number(Math.max(...ratios).toFixed(2)),
    pairs,
    modelRoundsPerBlock: modelN,
    bareRoundsPerBlock: bareN,
  };
}
