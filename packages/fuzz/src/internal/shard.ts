/**
 * Shards of a campaign: run `k` of a campaign belongs to shard `k mod count`, so `count` campaigns
 * started with the same seed and options, one per shard, together run exactly the runs of the one
 * campaign, each a share spread evenly over the run indices (an early violation is met by every
 * shard's first runs, not by one shard's last ones). A run depends only on the campaign seed, its
 * index and the corpus replayed first; coverage feedback would make it depend on the runs before
 * it, which other shards run, so a sharded campaign runs without feedback.
 */

/** One shard of a campaign: `index` counts from 0, below `count`. */
export interface Shard {
  /** This shard's index, from 0. */
  readonly index: number;
  /** Number of shards. */
  readonly count: number;
}

/** True if run `run` belongs to `shard` (every run does when there is none). */
export function inShard(run: number, shard: Shard | undefined): boolean {
  return shard === undefined || run % shard.count === shard.index;
}

/** The position of run `run` among its shard's runs (its index when there is no shard). */
export function shardPosition(run: number, shard: Shard | undefined): number {
  return shard === undefined ? run : Math.floor(run / shard.count);
}

/** How many of a campaign's first `runs` runs belong to `shard` (all of them when there is none). */
export function shardRuns(runs: number, shard: Shard | undefined): number {
  if (shard === undefined) return runs;
  return Math.max(0, Math.ceil((runs - shard.index) / shard.count));
}

/** Throws unless `shard` is a shard: integers, `0 ≤ index < count`. */
export function checkShard(shard: Shard): void {
  const { index, count } = shard;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`shard: index ${index} of count ${count}: expected integers with 0 ≤ index < count`);
  }
}
