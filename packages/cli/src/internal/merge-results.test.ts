import { describe, expect, it } from 'vitest';
import { mergeResults, type ShardFile } from './merge-results.js';

const counts = (needed: number, missed: number) => ({ needed, performed: needed - missed, missed, unnecessary: 0, legalSkips: 0 });

/** A `fuzz --shard i/n --json` document of one driver, with what a shard of a campaign of `runs` runs found. */
function shard(
  index: number,
  count: number,
  found: { runs: number; failingRun?: number; cells?: Record<string, number>; missingCells?: string[]; needed?: number; missed?: number },
  campaign: Record<string, unknown> = {},
): ShardFile {
  const f = found.failingRun;
  const entry = {
    driver: 'd',
    file: 'd/driver.ts',
    status: f === undefined ? 'pass' : 'fail',
    expected: null,
    violations: f === undefined ? [] : [{ rule: 'missed-flush', step: f }],
    replay: f === undefined ? null : `hmmlab2_token${f}`,
    failingRun: f ?? null,
    scenario: f === undefined ? null : { regions: [], tasks: [] },
    shrunk: f === undefined ? null : { opsBefore: 3, opsAfter: 1, attempts: 5 },
    runs: found.runs,
    elapsedMs: 100 * index,
    seed: 1,
    strategy: 'pct',
    coverage: {
      cells: found.cells ?? {},
      windows: {},
      missingCells: found.missingCells ?? ['a', 'b'],
      missingWindows: ['w'],
      expectedCells: 4,
      reachedCells: 4 - (found.missingCells ?? ['a', 'b']).length,
      notes: [],
    },
    flushes: { total: counts(found.needed ?? 0, found.missed ?? 0), byEvent: { CLEAR: counts(found.needed ?? 0, found.missed ?? 0) } },
    corpus: { dir: null, loaded: 0, skipped: 0, added: 0, replayed: 0, mutants: 0, newCoverage: 0 },
    campaign: {
      runs: 10,
      seed: 1,
      strategy: 'pct',
      profiles: null,
      feedback: false,
      shape: null,
      requireWindows: null,
      corpus: null,
      ...campaign,
    },
    shard: { index, count },
  };
  const doc = { schemaVersion: 1, command: 'fuzz', hmmlabVersion: '0.1.0', drivers: [entry] };
  return { name: `s${index}.json`, text: JSON.stringify(doc) };
}

describe('mergeResults', () => {
  it('should take the counterexample of the lowest failing run over all shards', () => {
    const m = mergeResults([shard(2, 3, { runs: 2, failingRun: 4 }), shard(1, 3, { runs: 4 }), shard(3, 3, { runs: 1, failingRun: 2 })]);
    const e = m.drivers[0];
    expect(e?.failingRun).toBe(2);
    expect(e?.replay).toBe('hmmlab2_token2');
    expect(e?.status).toBe('fail');
    expect(e?.runs).toBe(7);
    expect(e?.merged).toEqual({ shards: 3, complete: true });
  });

  it('should pass when no shard found a violation, summing coverage and flushes', () => {
    const m = mergeResults([
      shard(1, 2, { runs: 5, cells: { x: 1 }, missingCells: ['a', 'b'], needed: 3 }),
      shard(2, 2, { runs: 5, cells: { x: 2, y: 1 }, missingCells: ['b'], needed: 4, missed: 1 }),
    ]);
    const e = m.drivers[0];
    expect(e?.status).toBe('pass');
    expect(e?.failingRun).toBeNull();
    expect(e?.coverage.cells).toEqual({ x: 3, y: 1 });
    expect(e?.coverage.missingCells).toEqual(['b']);
    expect(e?.coverage.reachedCells).toBe(3);
    expect(e?.flushes.total).toEqual(counts(7, 1));
    expect(e?.flushes.byEvent.CLEAR).toEqual(counts(7, 1));
    expect(m.warnings).toEqual([]);
  });

  it('should warn when a shard ran fewer runs than its share without a violation', () => {
    const m = mergeResults([shard(1, 2, { runs: 5 }), shard(2, 2, { runs: 3 })]);
    expect(m.drivers[0]?.merged.complete).toBe(false);
    expect(m.warnings).toEqual([
      'd: shard 2/2 (s2.json) ran 3 of its 5 runs (a --time limit?): the merged result covers fewer runs than the campaign',
    ]);
  });

  it.each([
    ['seed', { seed: 2 }, 'merge: s2.json ran another campaign of d than s1.json: seed 2 where the first has 1'],
    ['runs', { runs: 20 }, 'merge: s2.json ran another campaign of d than s1.json: runs 20 where the first has 10'],
    ['profile', { profiles: ['5.8'] }, 'merge: s2.json ran another campaign of d than s1.json: profiles ["5.8"] where the first has null'],
    ['corpus', { corpus: 'abc' }, 'merge: s2.json ran another campaign of d than s1.json: corpus "abc" where the first has null'],
  ])('should refuse shards of campaigns with another %s', (_what, campaign, message) => {
    expect(() => mergeResults([shard(1, 2, { runs: 5 }), shard(2, 2, { runs: 5 }, campaign)])).toThrow(message);
  });

  it('should refuse shards of different shard counts, duplicates and missing shards', () => {
    expect(() => mergeResults([shard(1, 2, { runs: 5 }), shard(2, 3, { runs: 3 })])).toThrow(
      'merge: s2.json is shard 2/3, s1.json one of 2 shards',
    );
    expect(() => mergeResults([shard(1, 2, { runs: 5 }), { ...shard(1, 2, { runs: 5 }), name: 'again.json' }])).toThrow(
      'merge: s1.json and again.json are both shard 1/2',
    );
    expect(() => mergeResults([shard(1, 3, { runs: 4 })])).toThrow('merge: shards 2/3, 3/3 missing; give the results of all 3 shards');
  });

  it('should refuse another driver, a result that is not a shard, and text that is not a result', () => {
    const other = shard(2, 2, { runs: 5 });
    expect(() => mergeResults([shard(1, 2, { runs: 5 }), { ...other, text: other.text.replaceAll('"d"', '"e"') }])).toThrow(
      'merge: s2.json fuzzed e (d/driver.ts), s1.json d (d/driver.ts)',
    );
    const whole = JSON.parse(other.text) as { drivers: { shard: unknown }[] };
    (whole.drivers[0] as { shard: unknown }).shard = null;
    expect(() => mergeResults([{ name: 'one.json', text: JSON.stringify(whole) }])).toThrow(
      'merge: one.json: driver d was not fuzzed as a shard; run hmmlab fuzz --shard i/n --json',
    );
    expect(() => mergeResults([{ name: 'x.json', text: 'hello' }])).toThrow('merge: x.json: not JSON');
    const empty = JSON.stringify({ schemaVersion: 1, command: 'fuzz', drivers: [{}] });
    expect(() => mergeResults([{ name: 'e.json', text: empty }])).toThrow('merge: e.json: entry 0 of "drivers" names no driver');
    expect(() => mergeResults([])).toThrow('merge: no result files');
  });
});
