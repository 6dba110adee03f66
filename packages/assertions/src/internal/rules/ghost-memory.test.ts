import { firstRunnable, Kernel, type Mm } from '@hmmlab/core';
import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../../vitest.js';
import { checkScenario } from '../check.js';
import { knobDriver } from '../test-driver.js';
import { GhostMemory } from './ghost-memory.js';

/** An mm and a ghost; addresses without a VMA are private memory to the ghost. */
function setup(wordsPerPage: number): { k: Kernel; mm: Mm; ghost: GhostMemory; base: number } {
  const k = new Kernel({ trace: 'none', wordsPerPage });
  const mm = k.createMm();
  const base = 0x10000 * k.pageSize;
  return { k, mm, ghost: new GhostMemory(k.pageSize, k.wordSize), base };
}

describe('GhostMemory', () => {
  it.each([2, 4, 1024])('should keep each word of a page apart, with %i words per page', (wpp) => {
    const { k, mm, ghost, base } = setup(wpp);
    ghost.write(mm, base, 1, 10, 1);
    ghost.write(mm, base + (wpp - 1) * k.wordSize, 2, 10, 2);
    ghost.write(mm, base + k.pageSize, 3, 11, 3);
    expect(ghost.get(mm, base)).toEqual({ value: 1, pfn: 10, step: 1 });
    expect(ghost.get(mm, base + (wpp - 1) * k.wordSize)).toEqual({ value: 2, pfn: 10, step: 2 });
    expect(ghost.get(mm, base + k.pageSize)).toEqual({ value: 3, pfn: 11, step: 3 });
    expect(ghost.get(mm, base + k.pageSize + k.wordSize)).toBeUndefined();
  });

  it('should forget the words of a range, whole pages and part of one, and keep the rest', () => {
    const { k, mm, ghost, base } = setup(4);
    for (let i = 0; i < 8; i++) ghost.write(mm, base + i * k.wordSize, i + 1, 10 + Math.floor(i / 4), i);
    // Words 2 and 3 of the first page, and the whole second page.
    ghost.forget(mm.id, base + 2 * k.wordSize, base + 2 * k.pageSize);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => ghost.get(mm, base + i * k.wordSize)?.value)).toEqual([
      1,
      2,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    // The first page's last words go: nothing of it is left.
    ghost.forget(mm.id, base, base + 2 * k.wordSize);
    expect(ghost.get(mm, base)).toBeUndefined();
  });

  it('should move the words of a range with mremap, and give a forked child copies of its parent words', () => {
    const { k, mm, ghost, base } = setup(2);
    ghost.write(mm, base, 7, 10, 1);
    ghost.write(mm, base + k.wordSize + k.pageSize, 8, 11, 2);
    const to = base + 16 * k.pageSize;
    ghost.move(mm.id, base, to, 2 * k.pageSize);
    expect(ghost.get(mm, base)).toBeUndefined();
    expect(ghost.get(mm, to)).toEqual({ value: 7, pfn: 10, step: 1 });
    expect(ghost.get(mm, to + k.wordSize + k.pageSize)).toEqual({ value: 8, pfn: 11, step: 2 });
    const child = k.createMm();
    ghost.fork(mm.id, child.id);
    expect(ghost.get(child, to)).toEqual({ value: 7, pfn: 10, step: 1 });
    ghost.write(child, to, 9, 12, 3);
    expect(ghost.get(mm, to)?.value).toBe(7);
  });
});

describe('a device write to a page MADV_FREE left lazily freeable', () => {
  // MADV_FREE, then a device write through a translation made after it, then reclaim, then a CPU read.
  const scenario: Scenario = {
    regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'free' }] },
      { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 7 }] },
      { kind: 'kernel', ops: [{ op: 'reclaim', region: 0, page: 0 }] },
      { kind: 'cpu', ops: [{ op: 'read', region: 0, page: 0 }] },
    ],
  };

  it('should report the write lost when the callback revokes the writable translation without marking the page dirty', async () => {
    const r = await checkScenario(knobDriver({}), scenario, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['lost-write']);
    expect(r.violations[0]?.explanation).toMatch(
      /^reclaim discarded pfn \d+ of 0x[0-9a-f]+ as a clean MADV_FREE page \(MADV_FREE at step \d+\), but 0x[0-9a-f]+ was written \(7\) at step \d+, after it, without dirtying the page/,
    );
  });

  it('should pass when the callback marks the page dirty: reclaim keeps it and the CPU reads the write', async () => {
    const r = await checkScenario(knobDriver({ dirtyOnRevoke: true }), scenario, { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
  });
});
