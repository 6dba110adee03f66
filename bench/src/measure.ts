/**
 * Timing helpers for the benchmarks: medians of repeated runs, and memory use.
 */

/** Median of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * `rounds` pairs of measurements of two sides, taking turns to go first (`first` in even rounds),
 * so that a load change on a shared machine hits both sides of a pair alike; returns each side's
 * figures in round order.
 */
export async function alternating(
  rounds: number,
  first: () => number | Promise<number>,
  second: () => number | Promise<number>,
): Promise<{ first: number[]; second: number[] }> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      a.push(await first());
      b.push(await second());
    } else {
      b.push(await second());
      a.push(await first());
    }
  }
  return { first: a, second: b };
}

/**
 * A full collection before a timed section (with node --expose-gc; nothing without it), so that
 * the garbage of what ran before it (an earlier round, the section's own set-up) is not collected
 * inside it: a round of 1,000 invalidations after a round with 100,000 notifiers took 8 to 27 µs
 * per invalidation without it, 6 to 7 with it.
 */
export function collectBeforeTiming(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Memory in use after a GC, in bytes: the heap and the array buffers outside it (typed arrays'
 * storage: page contents, page-table leaves). Needs node --expose-gc for a forced collection.
 */
export function memoryUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
