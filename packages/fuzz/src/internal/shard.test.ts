import { describe, expect, it } from 'vitest';
import { checkShard, inShard, shardPosition, shardRuns } from './shard.js';

describe('inShard', () => {
  it.each([1, 2, 3, 4, 7])('should put every run of a campaign in exactly one of %i shards', (count) => {
    for (let run = 0; run < 50; run++) {
      const owners = Array.from({ length: count }, (_x, index) => index).filter((index) => inShard(run, { index, count }));
      expect(owners).toEqual([run % count]);
    }
  });

  it('should accept every run without a shard', () => {
    expect([0, 1, 99].every((r) => inShard(r, undefined))).toBe(true);
  });
});

describe('shardRuns', () => {
  it.each([
    [10, 0, 4, 3],
    [10, 1, 4, 3],
    [10, 2, 4, 2],
    [10, 3, 4, 2],
    [2, 3, 4, 0],
    [0, 0, 1, 0],
  ])('should count %i runs in shard %i of %i as %i', (runs, index, count, want) => {
    expect(shardRuns(runs, { index, count })).toBe(want);
    let n = 0;
    for (let r = 0; r < runs; r++) if (inShard(r, { index, count })) n++;
    expect(n).toBe(want);
  });
});

describe('shardPosition', () => {
  it('should number a shard’s runs 0, 1, 2, … in run order', () => {
    const shard = { index: 2, count: 3 };
    const runs = Array.from({ length: 20 }, (_x, r) => r).filter((r) => inShard(r, shard));
    expect(runs.map((r) => shardPosition(r, shard))).toEqual(runs.map((_r, i) => i));
  });
});

describe('checkShard', () => {
  it.each([
    { index: 0, count: 0 },
    { index: 4, count: 4 },
    { index: -1, count: 4 },
    { index: 0.5, count: 4 },
  ])('should refuse $index of $count', (s) => {
    expect(() => checkShard(s)).toThrow(RangeError);
  });

  it('should accept the last shard', () => {
    expect(() => checkShard({ index: 3, count: 4 })).not.toThrow();
  });
});
