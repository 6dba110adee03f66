import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { compactPage } from '../migrate/compact.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_SOFT_DIRTY,
  MMU_NOTIFY_UNMAP,
} from '../notifier/range.js';
import { arrayDecisions } from '../sched/decisions.js';
import { SignalError } from '../sched/scheduler.js';
import { eventsOf, mapAnon, runDone } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import {
  MADV_DONTNEED,
  MADV_FREE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  ULONG_MAX,
} from './constants.js';
import type { Mm } from './mm.js';
import { PTE_PRESENT, pteKindOf, ptePfn } from './pte.js';

// ---- random operation sequences -----------------------------------------------------------

type Op =
  | { op: 'mmap'; pages: number; shared: boolean }
  | { op: 'munmap' | 'dontneed' | 'free'; mm: number; vma: number; page: number; npages: number }
  | { op: 'mprotect'; mm: number; vma: number; page: number; npages: number; prot: number }
  | { op: 'mremap'; mm: number; vma: number; page: number; npages: number; newPages: number; mode: 'fixed' | 'maymove' | 'dontunmap' }
  | { op: 'write'; mm: number; vma: number; page: number; word: number; value: number }
  | { op: 'read'; mm: number; vma: number; page: number; word: number }
  | { op: 'fork' | 'clearRefs'; mm: number }
  | { op: 'reclaim' | 'compact'; mm: number; vma: number; page: number };

const at = { mm: fc.nat({ max: 7 }), vma: fc.nat({ max: 7 }), page: fc.nat({ max: 5 }) };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('mmap' as const), pages: fc.integer({ min: 1, max: 4 }), shared: fc.boolean() }),
  fc.record({
    op: fc.constantFrom('munmap' as const, 'dontneed' as const, 'free' as const),
    ...at,
    npages: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    op: fc.constant('mprotect' as const),
    ...at,
    npages: fc.integer({ min: 1, max: 3 }),
    prot: fc.constantFrom(PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE),
  }),
  fc.record({
    op: fc.constant('mremap' as const),
    ...at,
    npages: fc.integer({ min: 1, max: 3 }),
    newPages: fc.integer({ min: 1, max: 4 }),
    mode: fc.constantFrom('fixed' as const, 'maymove' as const, 'dontunmap' as const),
  }),
  {
    arbitrary: fc.record({ op: fc.constant('write' as const), ...at, word: fc.nat({ max: 3 }), value: fc.integer({ min: 1, max: 1000 }) }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant('read' as const), ...at, word: fc.nat({ max: 3 }) }), weight: 3 },
  fc.record({ op: fc.constantFrom('fork' as const, 'clearRefs' as const), mm: at.mm }),
  fc.record({ op: fc.constantFrom('reclaim' as const, 'compact' as const), ...at }),
);

const WORDS = 4;

/** The ghost: expected contents per backing word (private: mm and address; shared: file and offset). */
class Ghost {
  readonly values = new Map<string, number | 'unknown'>();
  readonly mismatches: string[] = [];

  static key(mm: Mm, va: number): string | null {
    const vma = mm.lookupVma(va);
    if (vma === undefined) return null;
    const ps = mm.kernel.pageSize;
    if (vma.file !== null) return `f${vma.file.id}:${vma.fileIndex(va, ps) * ps + (va % ps)}`;
    return `m${mm.id}:${va}`;
  }

  /** Private words of `mm` in `[start, end)`. */
  privateKeys(mm: Mm, start: number, end: number): [string, number][] {
    const out: [string, number][] = [];
    const prefix = `m${mm.id}:`;
    for (const k of this.values.keys()) {
      if (!k.startsWith(prefix)) continue;
      const va = Number(k.slice(prefix.length));
      if (va >= start && va < end) out.push([k, va]);
    }
    return out;
  }

  drop(mm: Mm, start: number, end: number): void {
    for (const [k] of this.privateKeys(mm, start, end)) this.values.delete(k);
  }
}

interface World {
  k: Kernel;
  mms: Mm[];
  ghost: Ghost | null;
  fixedNext: number;
}

function target(w: World, o: { mm: number; vma: number; page: number }): { mm: Mm; va: number; vmaEnd: number } | null {
  const live = w.mms.filter((m) => !m.dead);
  const mm = live[o.mm % live.length];
  if (mm === undefined || mm.vmas.length === 0) return null;
  const v = mm.vmas[o.vma % mm.vmas.length];
  if (v === undefined) return null;
  const ps = w.k.pageSize;
  const pages = (v.end - v.start) / ps;
  return { mm, va: v.start + (o.page % pages) * ps, vmaEnd: v.end };
}

async function apply(w: World, o: Op): Promise<void> {
  const k = w.k;
  const ps = k.pageSize;
  const g = w.ghost;
  if (o.op === 'mmap') {
    const mm = w.mms.find((m) => !m.dead) as Mm;
    await mm.mmap(0, o.pages * ps, PROT_READ | PROT_WRITE, (o.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS);
    return;
  }
  if (o.op === 'fork' || o.op === 'clearRefs') {
    const live = w.mms.filter((m) => !m.dead);
    const mm = live[o.mm % live.length] as Mm;
    if (o.op === 'clearRefs') {
      await mm.clearRefs(4);
      return;
    }
    if (w.mms.length >= 4) return;
    const child = await mm.fork();
    w.mms.push(child);
    if (g !== null) {
      for (const [key, va] of g.privateKeys(mm, 0, ULONG_MAX)) {
        const v = g.values.get(key) as number | 'unknown';
        if (child.lookupVma(va) !== undefined) g.values.set(`m${child.id}:${va}`, v);
      }
    }
    return;
  }
  if (!('vma' in o)) return;
  const t = target(w, o);
  if (t === null) return;
  const { mm, va } = t;
  switch (o.op) {
    case 'munmap':
    case 'dontneed':
    case 'free': {
      const len = o.npages * ps;
      const anonBefore = mm.vmasIn(va, va + len).filter((v) => v.anonymous);
      if (o.op === 'munmap') await mm.munmap(va, len);
      else await mm.madvise(va, len, o.op === 'dontneed' ? MADV_DONTNEED : MADV_FREE);
      if (g === null) return;
      if (o.op === 'free') {
        for (const v of anonBefore) {
          for (let a = Math.max(va, v.start); a < Math.min(va + len, v.end); a += k.wordSize) g.values.set(`m${mm.id}:${a}`, 'unknown');
        }
      } else {
        g.drop(mm, va, va + len);
      }
      return;
    }
    case 'mprotect':
      await mm.mprotect(va, o.npages * ps, o.prot);
      return;
    case 'mremap': {
      const oldLen = Math.min(o.npages * ps, t.vmaEnd - va);
      const newLen = o.mode === 'dontunmap' ? oldLen : o.newPages * ps;
      let flags = MREMAP_MAYMOVE;
      let newAddr = 0;
      if (o.mode === 'fixed') {
        flags |= MREMAP_FIXED;
        newAddr = w.fixedNext;
        w.fixedNext += 0x100000;
      } else if (o.mode === 'dontunmap') flags |= MREMAP_DONTUNMAP;
      const ret = await mm.mremap(va, oldLen, newLen, flags, newAddr);
      if (g === null || ret < 0) return;
      if (ret === va) {
        if (newLen < oldLen) g.drop(mm, va + newLen, va + oldLen);
        return;
      }
      const moveLen = Math.min(oldLen, newLen);
      g.drop(mm, ret, ret + newLen);
      const moved = g.privateKeys(mm, va, va + moveLen);
      const vals = moved.map(([key]) => g.values.get(key) as number | 'unknown');
      g.drop(mm, va, va + oldLen);
      moved.forEach(([, a], i) => {
        g.values.set(`m${mm.id}:${a - va + ret}`, vals[i] as number | 'unknown');
      });
      return;
    }
    case 'write':
    case 'read': {
      const a = va + o.word * k.wordSize;
      try {
        if (o.op === 'write') {
          await mm.write(a, o.value);
          const key = Ghost.key(mm, a);
          if (g !== null && key !== null) g.values.set(key, o.value);
        } else {
          const v = await mm.read(a);
          const key = Ghost.key(mm, a);
          if (g !== null && key !== null) {
            const want = g.values.get(key) ?? 0;
            if (want !== 'unknown' && want !== v) g.mismatches.push(`read ${key} gave ${v}, expected ${want}`);
          }
        }
      } catch (e) {
        if (!(e instanceof SignalError)) throw e;
      }
      return;
    }
    case 'reclaim':
      await mm.reclaim(va);
      return;
    case 'compact': {
      const e = mm.pte(va);
      if (pteKindOf(e) !== PTE_PRESENT) return;
      const page = k.pages.page(ptePfn(e));
      if (!page.isZero) await compactPage(k, page);
      return;
    }
  }
}

async function newWorld(ghost: boolean): Promise<World> {
  const k = new Kernel({ trace: 'none', pageSize: 256, wordsPerPage: WORDS });
  const mm = k.createMm();
  await mapAnon(mm, 4);
  return { k, mms: [mm], ghost: ghost ? new Ghost() : null, fixedNext: 0x100000000 };
}

describe('Mm (property: the page tables, rmap and counts stay consistent)', () => {
  test.prop([fc.array(opArb, { maxLength: 14 }), fc.array(opArb, { maxLength: 14 }), fc.array(fc.nat({ max: 3 }), { maxLength: 120 })], {
    numRuns: 150,
  })('should keep every invariant at every step of concurrent random operations', async (opsA, opsB, decisions) => {
    const w = await newWorld(false);
    const k = w.k;
    const broken: string[] = [];
    k.trace.subscribe((ev) => {
      if (ev.type === 'switch' && broken.length === 0) broken.push(...checkMmInvariants(k).map((b) => `step ${ev.step}: ${b}`));
    });
    for (const [name, ops] of [
      ['A', opsA],
      ['B', opsB],
    ] as const) {
      k.spawn(`cpu ${name}`, 'cpu', async () => {
        for (const o of ops) await apply(w, o);
      });
    }
    const r = await k.run(arrayDecisions(decisions));
    expect(r.status, r.message).toBe('done');
    expect(broken).toEqual([]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  test.prop([fc.array(opArb, { maxLength: 30 })], { numRuns: 200 })(
    'should keep every invariant and every written value through a random sequence',
    async (ops) => {
      const w = await newWorld(true);
      const g = w.ghost as Ghost;
      for (const o of ops) {
        await apply(w, o);
        expect(checkMmInvariants(w.k)).toEqual([]);
      }
      // Read back every word the ghost knows.
      for (const mm of w.mms.filter((m) => !m.dead)) {
        for (const v of mm.vmas) {
          for (let a = v.start; a < v.end; a += w.k.wordSize)
            await apply(w, {
              op: 'read',
              mm: w.mms.filter((m) => !m.dead).indexOf(mm),
              vma: mm.vmas.indexOf(v),
              page: (a - v.start) / w.k.pageSize,
              word: (a % w.k.pageSize) / w.k.wordSize,
            });
        }
      }
      expect(g.mismatches).toEqual([]);
      expect(checkMmInvariants(w.k, { quiescent: true })).toEqual([]);
    },
  );
});

describe('Kernel.run (determinism)', () => {
  test.prop([fc.array(opArb, { maxLength: 10 }), fc.array(opArb, { maxLength: 10 }), fc.array(fc.nat({ max: 3 }), { maxLength: 60 })], {
    numRuns: 40,
  })('should produce the same trace when a random scenario is run twice with the same decisions', async (opsA, opsB, decisions) => {
    const once = async (): Promise<{ trace: string; decisions: number[] }> => {
      const k = new Kernel({ trace: 'all', pageSize: 256, wordsPerPage: WORDS });
      const mm = k.createMm();
      const w: World = { k, mms: [mm], ghost: null, fixedNext: 0x100000000 };
      const sub = new MmuIntervalNotifier('det');
      k.spawn('setup', 'cpu', async () => {
        await mapAnon(mm, 4);
        await mmuIntervalNotifierInsert(sub, mm, 0, ULONG_MAX, { invalidate: () => true });
      });
      for (const [name, ops] of [
        ['A', opsA],
        ['B', opsB],
      ] as const) {
        k.spawn(`cpu ${name}`, 'cpu', async () => {
          for (const o of ops) await apply(w, o);
        });
      }
      const r = await k.run(arrayDecisions(decisions));
      return {
        trace: JSON.stringify(k.trace.events(), (_k, v) => (typeof v === 'object' && v !== null && 'pgmap' in v ? String(v) : v)),
        decisions: r.decisions,
      };
    };
    const a = await once();
    const b = await once();
    expect(b.decisions).toEqual(a.decisions);
    expect(b.trace).toBe(a.trace);
    expect(a.trace.length).toBeGreaterThan(2);
  });
});

// ---- which operation sends which event ----------------------------------------------------

describe('Mm operations (event table)', () => {
  it.each([
    ['munmap', MMU_NOTIFY_UNMAP, (mm: Mm, a: number, ps: number) => mm.munmap(a + ps, 2 * ps), [1, 3]],
    [
      'mremap (move)',
      MMU_NOTIFY_UNMAP,
      (mm: Mm, a: number, ps: number) => mm.mremap(a, 4 * ps, 4 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, 0x200000000),
      [0, 4],
    ],
    ['madvise(DONTNEED)', MMU_NOTIFY_CLEAR, (mm: Mm, a: number, ps: number) => mm.madvise(a, 2 * ps, MADV_DONTNEED), [0, 2]],
    ['madvise(FREE)', MMU_NOTIFY_CLEAR, (mm: Mm, a: number, ps: number) => mm.madvise(a + 2 * ps, 2 * ps, MADV_FREE), [2, 4]],
    ['mprotect', MMU_NOTIFY_PROTECTION_VMA, (mm: Mm, a: number, ps: number) => mm.mprotect(a, 4 * ps, PROT_READ), [0, 4]],
    ['fork', MMU_NOTIFY_PROTECTION_PAGE, (mm: Mm) => mm.fork(), [0, 4]],
    ['clear_refs', MMU_NOTIFY_SOFT_DIRTY, (mm: Mm) => mm.clearRefs(4), [0, ULONG_MAX]],
    ['reclaim', MMU_NOTIFY_CLEAR, (mm: Mm, a: number) => mm.reclaim(a), [0, 1]],
  ] as const)('should send %s as event %i over the affected range', async (_name, event, op, [from, to]) => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const ps = k.pageSize;
    let base = 0;
    k.spawn('cpu', 'cpu', async () => {
      base = await mapAnon(mm, 4);
      for (let i = 0; i < 4; i++) await mm.write(base + i * ps, i);
      await mmuIntervalNotifierInsert(new MmuIntervalNotifier('all'), mm, 0, ULONG_MAX, { invalidate: () => true });
      await op(mm, base, ps);
    });
    await runDone(k);
    const starts = eventsOf(k, 'inv-start');
    expect(starts.map((s) => s.event)).toEqual([event]);
    const end = to === ULONG_MAX ? ULONG_MAX : base + to * ps;
    expect([starts[0]?.start, starts[0]?.end]).toEqual([to === ULONG_MAX ? 0 : base + from * ps, end]);
  });

  it('should send RELEASE then UNMAP over the whole address space at exit', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    k.spawn('cpu', 'cpu', async () => {
      const a = await mapAnon(mm, 2);
      await mm.write(a, 1);
      await mmuIntervalNotifierInsert(new MmuIntervalNotifier('all'), mm, 0, ULONG_MAX, { invalidate: () => true });
      await mm.exit();
    });
    await runDone(k);
    expect(eventsOf(k, 'inv-start').map((s) => [s.event, s.start, s.end])).toEqual([
      [MMU_NOTIFY_RELEASE, 0, ULONG_MAX],
      [MMU_NOTIFY_UNMAP, 0, ULONG_MAX],
    ]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should change every PTE of an operation inside its invalidation', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    k.spawn('cpu', 'cpu', async () => {
      const a = await mapAnon(mm, 4);
      for (let i = 0; i < 4; i++) await mm.write(a + i * k.pageSize, i);
      const child = await mm.fork();
      await mm.write(a, 9); // COW
      await mm.mprotect(a, 4 * k.pageSize, PROT_READ);
      await mm.reclaim(a + k.pageSize);
      await mm.madvise(a, 2 * k.pageSize, MADV_DONTNEED);
      await mm.munmap(a, 4 * k.pageSize);
      await child.exit();
    });
    await runDone(k);
    const open = new Set<number>();
    const outside: string[] = [];
    for (const e of k.trace.events()) {
      if (e.type === 'inv-start') open.add(e.inv);
      if (e.type === 'inv-end') open.delete(e.inv);
      // Entries that lose a mapping or a permission must change under an open invalidation.
      if (e.type === 'pte' && e.old !== 0 && e.new !== e.old && !open.has(e.inv) && e.why !== 'remove-migration-ptes') outside.push(e.why);
    }
    expect(outside).toEqual([]);
  });
});

describe('Mm.findVma (mmap_assert_locked)', () => {
  it('should refuse a lookup in a run without the mmap lock', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    k.spawn('driver', 'driver', async () => {
      const base = await mapAnon(mm, 1);
      mm.findVma(base);
    });
    const r = await k.run(arrayDecisions([]));
    expect(r.status).toBe('error');
    expect(r.error).toMatchObject({ code: 'ERR_NOT_LOCKED' });
    expect(String(r.error)).toContain('find_vma');
  });

  it('should accept a lookup under the mmap lock, read or write, and one outside a run', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    let base = 0;
    const found: boolean[] = [];
    k.spawn('driver', 'driver', async () => {
      base = await mapAnon(mm, 1);
      await mm.mmapLock.downRead();
      found.push(mm.findVma(base) !== undefined);
      mm.mmapLock.upRead();
      await mm.mmapLock.downWrite();
      found.push(mm.findVma(base) !== undefined);
      mm.mmapLock.upWrite();
    });
    await runDone(k);
    expect(found).toEqual([true, true]);
    expect(mm.findVma(base)).toBeDefined();
  });
});
