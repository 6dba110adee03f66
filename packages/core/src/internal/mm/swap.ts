/**
 * Swap space: where reclaim puts anonymous pages. A slot keeps the contents and the number of
 * swap entries that point at it; the swap cache keeps the page read back in (with one reference),
 * so processes sharing the slot after fork share the page.
 */
import type { PageAllocator } from './page.js';

/** One swap slot. */
export interface SwapSlot {
  /** The slot's contents. */
  readonly words: Int32Array;
  /** Swap entries (in any mm) that reference the slot (`swap_count`). */
  count: number;
  /** Pfn of the page in the swap cache, or 0. */
  cachePfn: number;
}

/** The swap device. */
export class SwapSpace {
  private readonly slots = new Map<number, SwapSlot>();
  private next = 1;

  /** Allocates a slot holding `words`, referenced by `count` entries. */
  alloc(words: Int32Array, count: number): number {
    const id = this.next++;
    this.slots.set(id, { words: words.slice(), count, cachePfn: 0 });
    return id;
  }

  /** The slot `slot`, or undefined if it is free. */
  get(slot: number): SwapSlot | undefined {
    return this.slots.get(slot);
  }

  /** `swap_duplicate`: one more entry references the slot (fork). */
  dup(slot: number): void {
    const s = this.slots.get(slot);
    if (s !== undefined) s.count++;
  }

  /**
   * `swap_free` / `free_swap_and_cache`: one entry less. With the last one the slot goes away, and
   * its swap-cache page loses the cache's reference, unless that page is locked (reclaim is
   * unmapping it): then it stays in the cache (`SWAP_HAS_CACHE`) until its holder calls
   * {@link SwapSpace.uncache}.
   */
  free(slot: number, pages: PageAllocator): void {
    const s = this.slots.get(slot);
    if (s === undefined) return;
    if (--s.count > 0) return;
    if (s.cachePfn !== 0) {
      const p = pages.page(s.cachePfn);
      if (p.locked) return;
      p.swapSlot = 0;
      pages.putPage(p);
    }
    this.slots.delete(slot);
  }

  /**
   * The swap-cache page of `slot` leaves the cache (its holder drops the cache's reference); a
   * slot no entry references any more goes away with it.
   */
  uncache(slot: number): void {
    const s = this.slots.get(slot);
    if (s === undefined) return;
    s.cachePfn = 0;
    if (s.count <= 0) this.slots.delete(slot);
  }

  /** Slots in use. */
  get size(): number {
    return this.slots.size;
  }
}
