import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';

describe('SwapSpace', () => {
  it('should keep a slot while entries reference it and drop its cache page with the last one', () => {
    const k = new Kernel();
    const slot = k.swap.alloc(Int32Array.of(1, 2), 1);
    k.swap.dup(slot);
    const page = k.pages.allocPage();
    page.swapSlot = slot;
    (k.swap.get(slot) as NonNullable<ReturnType<typeof k.swap.get>>).cachePfn = page.pfn;
    k.swap.free(slot, k.pages);
    expect([k.swap.size, page.free]).toEqual([1, false]);
    k.swap.free(slot, k.pages);
    expect([k.swap.size, page.free, page.swapSlot]).toEqual([0, true, 0]);
  });

  it('should copy the contents it is given', () => {
    const k = new Kernel();
    const words = Int32Array.of(7);
    const slot = k.swap.alloc(words, 1);
    words[0] = 8;
    expect(k.swap.get(slot)?.words[0]).toBe(7);
  });
});
