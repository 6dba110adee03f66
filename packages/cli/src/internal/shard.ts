/**
 * `--shard i/n` of `hmmlab fuzz`: shards are numbered from 1 on the command line, as CI matrices
 * number their jobs, and from 0 inside (`Shard` of @hmmlab/fuzz).
 */
import { type Shard, shardRuns } from '@hmmlab/fuzz';
import { UsageError } from './usage.js';

/** Parses `i/n` (1 ≤ i ≤ n) into the 0-based shard; a usage error otherwise. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const i = m === null ? Number.NaN : Number(m[1]);
  const n = m === null ? Number.NaN : Number(m[2]);
  if (!(Number.isSafeInteger(i) && Number.isSafeInteger(n) && n >= 1 && i >= 1 && i <= n)) {
    throw new UsageError(`--shard ${text}: expected i/n with 1 ≤ i ≤ n (shards are numbered from 1), e.g. --shard 1/4`);
  }
  return { index: i - 1, count: n };
}

/** `2/4`: a shard as the command line names it. */
export function shardName(s: Shard): string {
  return `${s.index + 1}/${s.count}`;
}

/** One line saying which runs of the campaign a shard ran. */
export function formatShard(s: Shard, runs: number): string {
  const rest = s.count === 1 ? 'every run' : `the runs k with k mod ${s.count} = ${s.index}`;
  return `shard     ${shardName(s)}: ${shardRuns(runs, s)} of the campaign's ${runs} runs (${rest}), without coverage feedback; hmmlab merge joins the shards' --json results`;
}
