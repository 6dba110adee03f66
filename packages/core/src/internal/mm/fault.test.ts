import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import { MMU_NOTIFY_CLEAR } from '../notifier/range.js';
import { firstRunnable } from '../sched/decisions.js';
import { SignalError } from '../sched/scheduler.js';
import { eventsOf, mapAnon } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE, ULONG_MAX } from './constants.js';
import type { Mm } from './mm.js';
import { PTE_DIRTY, PTE_PRESENT, PTE_SWAP, pteFlags, pteKindOf, ptePfn, pteWrite } from './pte.js';

async function world(): Promise<{ k: Kernel; mm: Mm; base: number; ps: number }> {
  const k = new Kernel({ trace: 'all' });
  const mm = k.createMm();
  return { k, mm, base: await mapAnon(mm, 4), ps: k.pageSize };
}

describe('handleMmFault (through CPU loads and stores)', () => {
  it('should map the shared zero page read-only on a read of untouched anonymous memory', async () => {
    const { k, mm, base } = await world();
    expect(await mm.read(base)).toBe(0);
    expect(ptePfn(mm.pte(base))).toBe(k.pages.zeroPage.pfn);
    expect(pteWrite(mm.pte(base))).toBe(false);
  });

  it('should map a fresh zeroed writable dirty page on a write', async () => {
    const { k, mm, base } = await world();
    await mm.write(base + 8, 5);
    const e = mm.pte(base);
    expect(pteKindOf(e)).toBe(PTE_PRESENT);
    expect(pteWrite(e) && (pteFlags(e) & PTE_DIRTY) !== 0).toBe(true);
    expect(Array.from((mm.pageAt(base) as NonNullable<ReturnType<Mm['pageAt']>>).words.slice(0, 3))).toEqual([0, 0, 5]);
    expect(k.pages.allocated).toBe(1);
  });

  it('should replace the zero page on a write to it, under a one-page CLEAR invalidation', async () => {
    const { k, mm, base, ps } = await world();
    await mm.read(base);
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('n'), mm, 0, ULONG_MAX, { invalidate: () => true });
    await mm.write(base, 1);
    expect(eventsOf(k, 'inv-start').map((e) => [e.event, e.start, e.end])).toEqual([[MMU_NOTIFY_CLEAR, base, base + ps]]);
    expect(ptePfn(mm.pte(base))).not.toBe(k.pages.zeroPage.pfn);
  });

  it('should copy on write after fork, leaving the other process its value', async () => {
    const { k, mm, base } = await world();
    await mm.write(base, 1);
    const child = await mm.fork();
    await child.write(base, 2);
    expect(await mm.read(base)).toBe(1);
    expect(await child.read(base)).toBe(2);
    await mm.write(base, 3); // the last mapping reuses its page
    expect(await child.read(base)).toBe(2);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should share writes through a shared anonymous mapping after fork', async () => {
    const { mm } = await world();
    const s = await mm.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    const child = await mm.fork();
    await child.write(s, 9);
    expect(await mm.read(s)).toBe(9);
  });

  it.each([
    ['a read outside any VMA', 'outside', false],
    ['a write to a read-only VMA', 'ro', true],
    ['a read of a PROT_NONE VMA', 'none', false],
  ])('should raise SIGSEGV for %s', async (_what, how, write) => {
    const { mm, base, ps } = await world();
    let va = base;
    if (how === 'outside') va = base + 64 * ps;
    if (how === 'ro') await mm.mprotect(base, ps, PROT_READ);
    if (how === 'none') await mm.mprotect(base, ps, PROT_NONE);
    const p = write ? mm.write(va, 1) : mm.read(va);
    await expect(p).rejects.toMatchObject({ signal: 'SIGSEGV', address: va });
    await expect(p).rejects.toBeInstanceOf(SignalError);
  });

  it('should reject, not throw, when an observer of a store done at once throws, as a store that waits does', async () => {
    const k = new Kernel({ trace: 'none' });
    const mm = k.createMm();
    const outcome: string[] = [];
    k.spawn('cpu', 'cpu', async () => {
      const base = await mapAnon(mm, 2);
      k.trace.subscribe((e) => {
        if (e.type === 'cpu-access') throw new Error(`observer saw ${e.value}`);
      });
      for (const value of [7, 8]) {
        let p: Promise<unknown>;
        try {
          p = mm.write(base + (value - 7) * k.pageSize, value); // a fault, then a mapped page
        } catch {
          outcome.push('threw');
          continue;
        }
        await p.then(
          () => outcome.push('stored'),
          (e: Error) => outcome.push(e.message),
        );
      }
      outcome.push(`words ${(mm.pageAt(base) as NonNullable<ReturnType<Mm['pageAt']>>).words[0]}`);
    });
    expect((await k.run(firstRunnable)).status).toBe('done');
    expect(outcome).toEqual(['observer saw 7', 'observer saw 8', 'words 7']);
  });

  it('should throw ERR_UNALIGNED for an address that is not word aligned', async () => {
    const { mm, base } = await world();
    await expect(async () => mm.read(base + 1)).rejects.toMatchObject({ code: 'ERR_UNALIGNED' });
  });

  it('should read a reclaimed page back from swap', async () => {
    const { k, mm, base } = await world();
    await mm.write(base, 42);
    expect(await mm.reclaim(base)).toBe(0);
    expect(pteKindOf(mm.pte(base))).toBe(PTE_SWAP);
    expect(await mm.read(base)).toBe(42);
    expect(k.swap.size).toBe(0);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should keep processes apart that swap in a page they shared through fork', async () => {
    const { k, mm, base } = await world();
    await mm.write(base, 1);
    await mm.reclaim(base);
    const child = await mm.fork();
    expect(await mm.read(base)).toBe(1); // parent swaps in: the slot is still shared
    await child.write(base, 2); // the child's entry is the last one, but the page is mapped by the parent
    expect(await mm.read(base)).toBe(1);
    expect(await child.read(base)).toBe(2);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should read and write ranges across page boundaries', async () => {
    const { k, mm, base, ps } = await world();
    const words = Array.from({ length: ps / k.wordSize + 4 }, (_, i) => i + 1);
    await mm.writeRange(base, words);
    expect(Array.from(await mm.readRange(base, words.length))).toEqual(words);
  });

  it('should copy a private file page on write and leave the file unchanged', async () => {
    const { k, mm, ps } = await world();
    const f = k.createFile('data');
    f.writeWords(0, [7, 8], k.wordsPerPage, ps);
    const a = await mm.mmap(0, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, f);
    expect(await mm.read(a)).toBe(7);
    await mm.write(a, 70);
    expect(Array.from(f.readWords(0, 2, k.wordsPerPage))).toEqual([7, 8]);
    const b = await mm.mmap(0, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, f);
    await mm.write(b + k.wordSize, 80);
    expect(Array.from(f.readWords(0, 2, k.wordsPerPage))).toEqual([7, 80]);
    await expect(mm.read(b + ps)).rejects.toMatchObject({ signal: 'SIGBUS' }); // beyond the end of the file
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });
});

describe('do_wp_page', () => {
  it('should not reuse a swap-cache page whose slot another process still references', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 1);
    await mm.reclaim(a);
    const child = await mm.fork();
    await mm.write(a, 2); // swap-in read-only (the slot is shared), then a COW copy
    expect(await child.read(a)).toBe(1);
    expect(await mm.read(a)).toBe(2);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });
});

// mm/memory.c do_fault_around → mm/filemap.c filemap_map_pages (v6.1, fault_around_bytes 64 KiB).
describe('fault-around of a shmem read fault', () => {
  it.each([
    ['maps the cached page of the same 16-page window', 3, true],
    ['leaves the cached page of the next window alone', 20, false],
  ] as const)('%s', async (_what, cached, mapped) => {
    const k = new Kernel();
    const mm = k.createMm();
    const ps = k.pageSize;
    const a = await mm.mmap(0x100000000000, 32 * ps, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    const child = await mm.fork();
    expect(await child.read(a + cached * ps)).toBe(0);
    expect(mm.pte(a + cached * ps)).toBe(0);
    expect(await mm.read(a + 5 * ps)).toBe(0);
    expect(pteKindOf(mm.pte(a + cached * ps)) === PTE_PRESENT).toBe(mapped);
    expect(mm.pte(a + 6 * ps)).toBe(0);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });
});

describe('Mm.accessNow', () => {
  /** A run of one task that maps 4 pages and touches them with `touch`; its trace, steps and entries. */
  async function runOf(touch: (mm: Mm, base: number, ps: number) => Promise<void>) {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    let base = 0;
    k.spawn('cpu', 'cpu', async () => {
      base = await mapAnon(mm, 4);
      await touch(mm, base, k.pageSize);
    });
    const r = await k.run(firstRunnable);
    return {
      status: r.status,
      steps: r.steps,
      events: k.trace.events().map(({ seq: _s, ...e }) => e),
      ptes: [0, 1, 2, 3].map((i) => mm.pte(base + i * k.pageSize)),
    };
  }

  it('should do what awaiting read and write does, with the same steps, events and entries, when nothing can interleave', async () => {
    const awaited = await runOf(async (mm, base, ps) => {
      for (let i = 0; i < 4; i++) await mm.write(base + i * ps, 10 + i);
      expect(await mm.read(base + ps)).toBe(11);
      expect(await mm.read(base + 2 * ps + 4)).toBe(0);
    });
    const now = await runOf(async (mm, base, ps) => {
      for (let i = 0; i < 4; i++) expect(mm.accessNow(base + i * ps, true, 10 + i)).toBe(10 + i);
      expect(mm.accessNow(base + ps, false, 0)).toBe(11);
      expect(mm.accessNow(base + 2 * ps + 4, false, 0)).toBe(0);
    });
    expect(now.status).toBe('done');
    expect(now).toEqual(awaited);
  });

  it('should do nothing and return undefined while another task could run', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    let got: number | undefined = -1;
    let before = -1;
    let after = -1;
    k.spawn('cpu', 'cpu', async () => {
      const base = await mapAnon(mm, 1);
      k.spawn('other', 'cpu', async () => {});
      before = k.trace.length;
      got = mm.accessNow(base, true, 5);
      after = k.trace.length;
    });
    expect((await k.run(firstRunnable)).status).toBe('done');
    expect(got).toBeUndefined();
    expect(after).toBe(before);
  });

  it('should refuse an unaligned address at once, as write does', async () => {
    const { mm, base } = await world();
    expect(() => mm.accessNow(base + 1, true, 5)).toThrow(/not aligned/);
  });
});
