import { describe, expect, it } from 'vitest';
import { formatShard, parseShard, shardName } from './shard.js';

describe('parseShard', () => {
  it.each([
    ['1/1', { index: 0, count: 1 }],
    ['1/4', { index: 0, count: 4 }],
    ['4/4', { index: 3, count: 4 }],
    [' 2/3 ', { index: 1, count: 3 }],
  ])('should read %j as %j', (text, want) => {
    expect(parseShard(text)).toEqual(want);
    expect(shardName(parseShard(text))).toBe(text.trim());
  });

  it.each(['0/4', '5/4', '1/0', '1', '1/4/2', 'a/b', '-1/4', '1.5/4', ''])('should refuse %j in one line', (text) => {
    expect(() => parseShard(text)).toThrow(
      /^--shard .*: expected i\/n with 1 ≤ i ≤ n \(shards are numbered from 1\), e\.g\. --shard 1\/4$/,
    );
  });
});

describe('formatShard', () => {
  it('should say how many of the runs the shard ran', () => {
    expect(formatShard({ index: 1, count: 4 }, 10)).toContain("shard     2/4: 3 of the campaign's 10 runs (the runs k with k mod 4 = 1)");
  });
});
