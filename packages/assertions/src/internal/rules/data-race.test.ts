import {
  firstRunnable,
  Kernel,
  type Mm,
  MmuIntervalNotifier,
  type Mutex,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  PTE_PRESENT,
  pteKindOf,
  ptePfn,
  seededDecisions,
  ULONG_MAX,
} from '@hmmlab/core';
import { Device, type DeviceVm, defineDriver, type Scenario, SharedCell, type World } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { checkScenario } from '../check.js';
import { FlushOracle } from '../oracle.js';

/** A bare world for the oracle: a kernel with no devices and no scenario. */
function world(kernel: Kernel): World {
  return {
    kernel,
    scenario: { regions: [], tasks: [] },
    processes: [],
    dead: new Set(),
    driver: null,
    binding: null,
    devices: [],
    regionBase: [],
  };
}

type Body = (k: Kernel, cell: SharedCell<number>) => Promise<void>;

/** Runs two tasks that share one cell under the oracle and returns the rules it reported. */
async function race(a: Body, b: Body, options: { atomic?: boolean; seed?: number } = {}): Promise<string[]> {
  const k = new Kernel();
  const oracle = new FlushOracle();
  oracle.attach(world(k));
  const cell = new SharedCell(k, 'flag', 0, { atomic: options.atomic ?? false });
  k.spawn('a', 'driver', () => a(k, cell));
  k.spawn('b', 'driver', () => b(k, cell));
  const run = await k.run(options.seed === undefined ? firstRunnable : seededDecisions(options.seed));
  return oracle.finish(run).violations.map((v) => v.rule);
}

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

describe('data-race', () => {
  it.each(SEEDS)('should report two unlocked writes on any schedule (seed %i)', async (seed) => {
    const write: Body = async (_k, c) => c.set(1);
    expect(await race(write, write, { seed })).toEqual(['data-race']);
  });

  it.each(SEEDS)('should accept the same writes under one mutex (seed %i)', async (seed) => {
    let m: ReturnType<Kernel['mutex']> | null = null;
    const write: Body = async (k, c) => {
      m ??= k.mutex('m');
      await m.lock();
      c.set(c.get() + 1);
      m.unlock();
    };
    expect(await race(write, write, { seed })).toEqual([]);
  });

  it('should report a write under one lock and a read under another', async () => {
    const under =
      (name: string): Body =>
      async (k, c) => {
        const m = k.mutex(name);
        await m.lock();
        if (name === 'x') c.set(1);
        else c.get();
        m.unlock();
      };
    expect(await race(under('x'), under('y'))).toEqual(['data-race']);
  });

  it('should accept two readers', async () => {
    const read: Body = async (_k, c) => {
      c.get();
    };
    expect(await race(read, read)).toEqual([]);
  });

  it('should accept atomic accesses, and order a wait after the wake-up it ends', async () => {
    const write: Body = async (_k, c) => c.set(1);
    expect(await race(write, write, { atomic: true })).toEqual([]);
    let done: ReturnType<Kernel['completion']> | null = null;
    const first: Body = async (k, c) => {
      done ??= k.completion('done');
      c.set(1);
      done.completeAll();
    };
    const second: Body = async (k, c) => {
      done ??= k.completion('done');
      await done.waitForCompletion();
      c.set(2);
    };
    expect(await race(first, second)).toEqual([]);
  });

  // A presence bit written with WRITE_ONCE under an rw_semaphore's read side, read plainly by the
  // invalidation under its write side and with READ_ONCE by a lockless check.
  function presence(writeOutsideLock: boolean): [Body, Body] {
    let sem: ReturnType<Kernel['rwsem']> | null = null;
    const bind: Body = async (k, c) => {
      sem ??= k.rwsem('notifier lock');
      if (c.readOnce() !== 0) return;
      await sem.downRead();
      if (!writeOutsideLock) c.writeOnce(1);
      sem.upRead();
      if (writeOutsideLock) c.writeOnce(1);
    };
    const invalidate: Body = async (k, c) => {
      sem ??= k.rwsem('notifier lock');
      await k.yieldPoint();
      await sem.downWrite();
      if (c.get() !== 0) c.writeOnce(0);
      sem.upWrite();
    };
    return [bind, invalidate];
  }

  it('should report a WRITE_ONCE moved after the unlock against the plain read under the lock', async () => {
    const [bind, invalidate] = presence(true);
    expect(await race(bind, invalidate)).toEqual(['data-race']);
  });

  it.each(SEEDS)('should accept the WRITE_ONCE under the lock, beside a lockless READ_ONCE (seed %i)', async (seed) => {
    const [bind, invalidate] = presence(false);
    expect(await race(bind, invalidate, { seed })).toEqual([]);
  });

  it('should report a plain lockless read of a cell written with WRITE_ONCE', async () => {
    const peek: Body = async (_k, c) => {
      c.get();
    };
    const write: Body = async (_k, c) => c.writeOnce(1);
    expect(await race(write, peek)).toEqual(['data-race']);
    const peekOnce: Body = async (_k, c) => {
      c.readOnce();
    };
    expect(await race(write, peekOnce)).toEqual([]);
  });

  it('should name both accesses, their tasks and their locks', async () => {
    const k = new Kernel();
    const oracle = new FlushOracle();
    oracle.attach(world(k));
    const cell = new SharedCell(k, 'gpu0 present', false);
    const m = k.mutex('gpu0 svm lock');
    k.spawn('fault', 'device', async () => {
      await m.lock();
      m.unlock();
      cell.set(true);
    });
    k.spawn('notifier', 'cpu', async () => {
      await m.lock();
      cell.get();
      m.unlock();
    });
    const v = oracle.finish(await k.run(firstRunnable)).violations[0];
    expect(v?.rule).toBe('data-race');
    expect(v?.explanation).toMatch(
      /^shared state "gpu0 present": fault#1 writes it at step \d+ holding no lock, and notifier#2 reads it at step \d+ holding gpu0 svm lock/,
    );
  });

  it('should say when a lock both sides name is two locks of one name, or one held for read by both', async () => {
    const k = new Kernel();
    const oracle = new FlushOracle();
    oracle.attach(world(k));
    const cell = new SharedCell(k, 'range list', 0);
    const sem = k.rwsem('mmap_lock');
    // One lock per range, made twice for one range: both are "range lock".
    const locks = [k.mutex('range lock'), k.mutex('range lock')];
    for (const [i, m] of locks.entries()) {
      k.spawn(`t${i}`, 'driver', async () => {
        await sem.downRead();
        await m.lock();
        cell.set(i);
        m.unlock();
        sem.upRead();
      });
    }
    const v = oracle.finish(await k.run(firstRunnable)).violations[0];
    expect(v?.rule).toBe('data-race');
    expect(v?.explanation).toMatch(
      /; no lock in common \("mmap_lock" held by both in shared \(read\) mode, which orders nothing; "range lock" names two different locks, one taken by each\) and nothing orders/,
    );
  });

  describe('DMA mappings', () => {
    type Page = ReturnType<Kernel['pages']['allocPage']>;
    interface Ctx {
      k: Kernel;
      dev: Device;
      page: Page;
      m: ReturnType<Kernel['mutex']>;
    }
    type DmaBody = (c: Ctx) => Promise<void>;

    /** Two tasks on one device and one system page, `premapped` times mapped before the run. */
    async function dma(a: DmaBody, b: DmaBody, seed: number, premapped = 0): Promise<{ rules: string[]; text: string }> {
      const k = new Kernel();
      const dev = new Device(k, { name: 'gpu0' });
      const oracle = new FlushOracle();
      oracle.attach({ ...world(k), devices: [dev] });
      const page = k.pages.allocPage();
      for (let i = 0; i < premapped; i++) dev.dmaMap(page, true);
      const c: Ctx = { k, dev, page, m: k.mutex('gpu0 svm lock') };
      k.spawn('a', 'driver', () => a(c));
      k.spawn('b', 'driver', () => b(c));
      const vs = oracle.finish(await k.run(seededDecisions(seed))).violations;
      return { rules: vs.map((v) => v.rule), text: vs[0]?.explanation ?? '' };
    }

    const locked =
      (body: DmaBody): DmaBody =>
      async (c) => {
        await c.m.lock();
        await body(c);
        c.m.unlock();
      };
    const map: DmaBody = async (c) => c.dev.dmaMap(c.page, false);
    /** Unmaps once the other task's mapping exists (a yield is no happens-before edge). */
    const unmapWhenMapped: DmaBody = async (c) => {
      while (!c.dev.dma.has(c.page.pfn)) await c.k.yieldPoint();
    };
    const unmap: DmaBody = async (c) => c.dev.dmaUnmap(c.page);

    it.each(SEEDS)('should report an unmap that the map it undoes is not ordered before (seed %i)', async (seed) => {
      const r = await dma(
        map,
        async (c) => {
          await unmapWhenMapped(c);
          await unmap(c);
        },
        seed,
      );
      expect(r.rules).toEqual(['data-race']);
      expect(r.text).toMatch(
        /^the gpu0 DMA mappings of pfn 0x[0-9a-f]+: a#1 maps it at step \d+ holding no lock, and b#2 unmaps it at step \d+ holding no lock/,
      );
    });

    it.each(SEEDS)('should accept the same map and unmap under one lock (seed %i)', async (seed) => {
      const r = await dma(
        locked(map),
        async (c) => {
          await unmapWhenMapped(c);
          await locked(unmap)(c);
        },
        seed,
      );
      expect(r.rules).toEqual([]);
    });

    it.each(SEEDS)('should accept two tasks mapping one page and each unmapping its own mapping (seed %i)', async (seed) => {
      const own: DmaBody = async (c) => {
        await map(c);
        await c.k.yieldPoint();
        await unmap(c);
      };
      expect((await dma(own, own, seed)).rules).toEqual([]);
    });

    it('should accept unmapping a mapping made before the run', async () => {
      expect((await dma(unmap, async () => {}, 1, 1)).rules).toEqual([]);
    });
  });
});

/**
 * A mirror with one device address space of atomic entries (an XArray, test_hmm's shape) and a
 * mirror lock, whose invalidation callback erases entries under the lock; `prefetch` is the
 * driver's, given the kernel, the mm, the address space and the lock.
 */
const atomicMirror = (
  name: string,
  device: string,
  prefetch: (kernel: Kernel, mm: Mm, vm: DeviceVm, lock: Mutex, start: number, end: number) => Promise<number>,
  extra: { accessesAreSyscalls?: boolean } = {},
) =>
  defineDriver({
    name,
    probe(kernel) {
      const dev = new Device(kernel, { name: device, tlb: false });
      return {
        devices: [dev],
        async bind(mm) {
          const vm = dev.createVm(mm);
          vm.atomicEntries = true;
          const lock = kernel.mutex(`${device} mirror lock`);
          const mni = new MmuIntervalNotifier(device);
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % kernel.pageSize), {
            async invalidate(sub, range, curSeq) {
              await lock.lock();
              mmuIntervalSetSeq(sub, curSeq);
              vm.clearRange(range.start, range.end);
              lock.unlock();
              return true;
            },
          });
          return { vms: [vm], ...extra, prefetch: (start, end) => prefetch(kernel, mm, vm, lock, start, end) };
        },
      };
    },
  });

describe('driver copies through device entries', () => {
  /**
   * A device whose accesses are the driver's own code (test_hmm's shape): `prefetch` maps the
   * range's pages under the mirror lock, then copies each page through its entry, with the lock
   * held (`locked`) or after dropping it; the invalidation callback erases entries under the lock.
   */
  const copier = (locked: boolean) =>
    atomicMirror(
      locked ? 'copier-locked' : 'copier-unlocked',
      'm0',
      async (kernel, mm, vm, lock, start, end) => {
        const ps = kernel.pageSize;
        await lock.lock();
        for (let va = start; va < end; va += ps) {
          const e = mm.pte(va);
          if (pteKindOf(e) === PTE_PRESENT) vm.setPte(va, kernel.pages.page(ptePfn(e)), { write: true });
        }
        if (!locked) lock.unlock();
        for (let va = start; va < end; va += ps) if (vm.pte(va) !== 0) vm.accessMapped(va, 'read');
        if (locked) lock.unlock();
        return 0;
      },
      { accessesAreSyscalls: true },
    );
  const copyThenUnmap: Scenario = {
    regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      { kind: 'driver', ops: [{ op: 'prefetch', region: 0, page: 0, pages: 2, write: false }] },
      { kind: 'cpu', ops: [{ op: 'munmap', region: 0, page: 1, pages: 1 }] },
    ],
  };

  // The copy runs before the munmap here, then the callback erases the entry it copied through.
  it('should report a copy the invalidation callback is not ordered with', async () => {
    const r = await checkScenario(copier(false), copyThenUnmap, { decisions: firstRunnable });
    const races = r.violations.filter((v) => v.rule === 'data-race');
    expect(races.map((v) => v.rule)).toEqual(['data-race']);
    expect(races[0]?.explanation).toMatch(
      /^the m0 device PTE of 0x[0-9a-f]+: .* (copies from its page through it|writes it) .* holding no lock/,
    );
  });

  it.each(SEEDS)('should accept the same copy under the lock the callback takes (seed %i)', async (seed) => {
    const r = await checkScenario(copier(true), copyThenUnmap, { decisions: seededDecisions(seed) });
    expect(r.violations.map((v) => v.rule)).toEqual([]);
  });
});

describe('atomic device entries', () => {
  /**
   * A device whose entry updates are each atomic (an XArray, as test_hmm's): `prefetch` decides
   * under the mirror lock and stores the entries of the range's present pages, under the lock
   * (`locked`) or after dropping it; the invalidation callback erases entries under the lock.
   */
  const storer = (locked: boolean) =>
    atomicMirror(locked ? 'store-locked' : 'store-after-unlock', 'x0', async (kernel, mm, vm, lock, start, end) => {
      const ps = kernel.pageSize;
      await lock.lock();
      const pages: [number, number][] = [];
      for (let va = start; va < end; va += ps) {
        const e = mm.pte(va);
        if (pteKindOf(e) === PTE_PRESENT) pages.push([va, ptePfn(e)]);
      }
      if (!locked) lock.unlock();
      for (const [va, pfn] of pages) vm.setPte(va, kernel.pages.page(pfn), { write: true });
      if (locked) lock.unlock();
      return 0;
    });
  const region = { pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' } as const;
  const prefetch = { kind: 'driver', ops: [{ op: 'prefetch', region: 0, page: 0, pages: 2, write: false }] } as const;
  const storeThenUnmap: Scenario = {
    regions: [region],
    tasks: [prefetch, { kind: 'cpu', ops: [{ op: 'munmap', region: 0, page: 1, pages: 1 }] }],
  };

  // The store runs before the munmap here, then the callback erases the entry it stored.
  it('should report a store after the unlock that the callback erases unordered', async () => {
    const r = await checkScenario(storer(false), storeThenUnmap, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['data-race']);
    expect(r.violations[0]?.explanation).toMatch(
      /^the x0 device PTE of 0x[0-9a-f]+: driver0#\d+ writes it .* holding no lock \(atomically\), and cpu1#\d+ writes it .* holding .*x0 mirror lock \(atomically\); each update of the entry is atomic, but no lock in common .*: the invalidation callback can run after the install was decided and before it is stored/,
    );
  });

  it.each(SEEDS)('should accept the same store under the lock the callback takes (seed %i)', async (seed) => {
    const r = await checkScenario(storer(true), storeThenUnmap, { decisions: seededDecisions(seed) });
    expect(r.violations.map((v) => v.rule)).toEqual([]);
  });

  it.each(SEEDS)('should accept two stores after the unlock with no callback between them (seed %i)', async (seed) => {
    const r = await checkScenario(storer(false), { regions: [region], tasks: [prefetch, prefetch] }, { decisions: seededDecisions(seed) });
    expect(r.violations.map((v) => v.rule)).toEqual([]);
  });
});
