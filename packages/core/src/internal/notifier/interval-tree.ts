/**
 * The interval tree of interval notifiers (include/linux/interval_tree.h): intervals with an
 * inclusive `last`, iterated in order of `start`. Kept as a sorted array with per-block maxima of
 * `last`, so a query skips blocks that end before it and costs little more than its result.
 */

/** What the tree stores. */
export interface IntervalNode {
  readonly start: number;
  readonly last: number;
  /** Insertion number, to order equal starts deterministically. */
  readonly order: number;
}

const BLOCK = 64;

/** A set of intervals with fast intersection queries. */
export class IntervalTree<T extends IntervalNode> {
  private readonly items: T[] = [];
  private blockMax: number[] = [];
  private dirty = false;

  get size(): number {
    return this.items.length;
  }

  private lowerBound(start: number, order: number): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.items[mid] as T;
      if (m.start < start || (m.start === start && m.order < order)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** `interval_tree_insert`. */
  insert(node: T): void {
    this.items.splice(this.lowerBound(node.start, node.order), 0, node);
    this.dirty = true;
  }

  /** `interval_tree_remove`; false if the node was not in the tree. */
  remove(node: T): boolean {
    const i = this.lowerBound(node.start, node.order);
    if (this.items[i] !== node) return false;
    this.items.splice(i, 1);
    this.dirty = true;
    return true;
  }

  private rebuild(): void {
    const n = Math.ceil(this.items.length / BLOCK);
    const bm = new Array<number>(n);
    for (let b = 0; b < n; b++) {
      let m = Number.NEGATIVE_INFINITY;
      const end = Math.min(this.items.length, (b + 1) * BLOCK);
      for (let i = b * BLOCK; i < end; i++) m = Math.max(m, (this.items[i] as T).last);
      bm[b] = m;
    }
    this.blockMax = bm;
    this.dirty = false;
  }

  /** Every interval intersecting `[start, last]`, in tree order (`interval_tree_iter_first/next`). */
  query(start: number, last: number, out: T[] = []): T[] {
    if (this.dirty) this.rebuild();
    // Intervals with node.start <= last are a prefix of the array.
    let hi = this.items.length;
    let lo = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.items[mid] as T).start <= last) lo = mid + 1;
      else hi = mid;
    }
    const end = lo;
    for (let b = 0; b * BLOCK < end; b++) {
      if ((this.blockMax[b] as number) < start) continue;
      const stop = Math.min(end, (b + 1) * BLOCK);
      for (let i = b * BLOCK; i < stop; i++) {
        const it = this.items[i] as T;
        if (it.last >= start) out.push(it);
      }
    }
    return out;
  }

  /** True if some interval intersects `[start, last]`. */
  intersects(start: number, last: number): boolean {
    return this.query(start, last).length > 0;
  }

  /** All intervals in tree order. */
  all(): readonly T[] {
    return this.items;
  }
}
