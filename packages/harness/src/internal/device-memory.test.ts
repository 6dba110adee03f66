/**
 * A device's memory costs what a run uses of it: its pfns are reserved whole, but its struct pages
 * and free list are made as pages are handed out. Checked against the free list as one explicit
 * stack of every free pfn, which the allocator must behave exactly like.
 */
import { Kernel, type Page } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { Device, type MemoryHold } from './device.js';

/** The free list as one array: the lowest pfn on top, then the pages given back. */
class ListModel {
  readonly stack: number[] = [];
  readonly start: number;
  constructor(start: number, n: number) {
    this.start = start;
    for (let i = n - 1; i >= 0; i--) this.stack.push(start + i);
  }
  alloc(): number | null {
    return this.stack.pop() ?? null;
  }
  giveBack(pfn: number): void {
    this.stack.push(pfn);
  }
  hold(h: MemoryHold): number {
    const before = this.stack.length;
    if ('free' in h) this.stack.splice(0, Math.max(0, before - h.free));
    else {
      const kept = this.stack.filter((pfn) => (pfn - this.start) % h.every !== 0);
      this.stack.length = 0;
      this.stack.push(...kept);
    }
    return before - this.stack.length;
  }
}

/** A small deterministic generator (xorshift32), so that each seed is one fixed sequence of steps. */
function generator(seed: number): (n: number) => number {
  let x = seed | 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

function device(pages: number): { k: Kernel; dev: Device } {
  const k = new Kernel({ trace: 'none' });
  // A system page first, so that the device's pfns do not start at a chunk boundary.
  k.pages.allocPage();
  const dev = new Device(k, { name: 'gpu', memory: { type: 'coherent', pages } });
  return { k, dev };
}

describe('device memory', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])(
    'should hand out, take back and hold pages exactly as one free list would (seed %i)',
    (seed) => {
      const rnd = generator(seed);
      const pages = 1 + rnd(40);
      const { k, dev } = device(pages);
      const model = new ListModel(dev.pgmap?.startPfn ?? 0, pages);
      const inUse: Page[] = [];
      for (let step = 0; step < 60; step++) {
        const op = rnd(20);
        if (op < 9) {
          const p = dev.allocPage();
          expect(p?.pfn ?? null).toBe(model.alloc());
          if (p !== null) {
            k.pages.unlockPage(p);
            inUse.push(p);
          }
        } else if (op < 15) {
          const p = inUse.splice(rnd(inUse.length + 1), 1)[0];
          if (p === undefined) continue;
          k.pages.putPage(p);
          model.giveBack(p.pfn);
        } else if (op < 17) {
          const h: MemoryHold = rnd(2) === 0 ? { free: rnd(pages + 3) } : { every: 2 + rnd(6) };
          expect(dev.holdMemory(h)).toBe(model.hold(h));
        } else if (op < 18) {
          // Reading the list makes it; from then on it is the allocator's own.
          expect(dev.freePages).toEqual(model.stack);
        }
        expect(dev.freePageCount).toBe(model.stack.length);
      }
      expect(dev.freePages).toEqual(model.stack);
    },
  );

  it('should take a page out of the list a driver read, as its huge-page allocator does', () => {
    const { dev } = device(8);
    const free = dev.freePages;
    const start = dev.pgmap?.startPfn ?? 0;
    expect(free.at(-1)).toBe(start);
    free.splice(free.indexOf(start + 1), 1);
    expect(dev.freePageCount).toBe(7);
    expect([dev.allocPage()?.pfn, dev.allocPage()?.pfn]).toEqual([start, start + 2]);
  });

  it('should make no struct page of a million-page memory until a page is handed out, then that one only', () => {
    const { k, dev } = device(1 << 20);
    const start = dev.pgmap?.startPfn ?? 0;
    expect(dev.freePageCount).toBe(1 << 20);
    expect(k.pages.peekRange(start, 1 << 20)).toEqual([]);
    const p = dev.allocPage();
    expect(p?.pfn).toBe(start);
    expect(k.pages.peekRange(start, 1 << 20).map((q) => q.pfn)).toEqual([start]);
    expect(dev.freePageCount).toBe((1 << 20) - 1);
    // A system page after the memory takes the first pfn past it.
    expect(k.pages.allocPage().pfn).toBe(start + (1 << 20));
  });

  it('should hold one page in every 512 of a million-page memory without listing it', () => {
    const { dev } = device(1 << 20);
    const start = dev.pgmap?.startPfn ?? 0;
    expect(dev.holdMemory({ every: 512 })).toBe((1 << 20) / 512);
    expect(dev.allocPage()?.pfn).toBe(start + 1);
    expect(dev.holdMemory({ free: 3 })).toBe((1 << 20) - (1 << 20) / 512 - 1 - 3);
    expect([dev.allocPage()?.pfn, dev.allocPage()?.pfn, dev.allocPage()?.pfn, dev.allocPage()]).toEqual([
      start + 2,
      start + 3,
      start + 4,
      null,
    ]);
  });
});
