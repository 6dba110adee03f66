import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateScenario } from '@hmmlab/harness';
import { afterEach, describe, expect, it } from 'vitest';
import { counterexample, FreshDraws, planRun, runCampaign, runGen, runSample, scanRuns } from './campaign.js';
import { type CorpusEntry, corpusDir, poolWeights, readCorpus, writeCorpus } from './corpus.js';
import { replayToken } from './replay.js';
import { mirror } from './test-mirror.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const temp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hmmlab-corpus-'));
  dirs.push(d);
  return d;
};

describe('coverage feedback', () => {
  it('should weigh each pool entry by the sum over its keys of 1 / the runs that reached the key', () => {
    const entry = (keys: string[]): CorpusEntry => ({
      scenario: { regions: [], tasks: [] },
      schedule: { kind: 'random', choices: [] },
      keys,
    });
    // A cell key holds '|' itself; a key the counts do not know counts as reached once.
    const hits = { cells: { 'a|b': 4, c: 2 }, windows: { w: 8 } };
    const pool = [entry(['cell|a|b', 'window|w']), entry(['cell|c', 'cell|a|b']), entry(['cell|unknown']), entry([])];
    expect(poolWeights(pool, hits)).toEqual([1 / 4 + 1 / 8, 1 / 2 + 1 / 4, 1, 0]);
    expect(poolWeights(pool, {})).toEqual([2, 2, 1, 0]);
  });

  it('should keep runs that reached new coverage and give the same campaign for the same seed', async () => {
    const a = await scanRuns(mirror(true), { runs: 200, seed: 5 });
    const b = await scanRuns(mirror(true), { runs: 200, seed: 5 });
    expect(a.kept.length).toBeGreaterThan(0);
    expect(a.mutants).toBeGreaterThan(0);
    expect(b.kept).toEqual(a.kept);
    expect(b.coverage).toEqual(a.coverage);
    // Every kept entry reached a key no entry kept before it had.
    const seen = new Set<string>();
    for (const e of a.kept) {
      expect(e.keys.some((k) => !seen.has(k))).toBe(true);
      for (const k of e.keys) seen.add(k);
    }
  });

  it('should generate every run afresh without feedback', async () => {
    const s = await scanRuns(mirror(true), { runs: 120, seed: 5, feedback: false });
    expect(s).toMatchObject({ mutants: 0, kept: [] });
  });

  it('should replay a corpus first, and find the bug a corpus entry shows with a token that replays exactly', async () => {
    const kept = (await runCampaign(mirror(true), { runs: 200, seed: 5 })).corpus.kept;
    const buggy = mirror(false);
    const r = await runCampaign(buggy, { runs: 200, seed: 5, corpus: kept });
    const f = r.failure;
    if (f === null) throw new Error('the unflushed mirror passed a corpus of flushed runs');
    expect(f.runIndex).toBeLessThan(kept.length);
    expect(r.corpus.replayed).toBe(f.runIndex + 1);
    expect((await replayToken(buggy, f.token)).divergence).toBeNull();
    // Twin: the flushing mirror replays the same corpus and passes.
    const fixed = await runCampaign(mirror(true), { runs: 200, seed: 5, corpus: kept });
    expect(fixed.failure).toBeNull();
    expect(fixed.corpus.replayed).toBe(kept.length);
  });

  it('should plan the same runs with fresh samples drawn ahead as one at a time, in a shard and with a corpus', async () => {
    const pool = (await runCampaign(mirror(true), { runs: 200, seed: 5 })).corpus.kept;
    expect(pool.length).toBeGreaterThan(0);
    const driver = mirror(true);
    for (const options of [
      { seed: 9, runs: 1200 },
      { seed: 4, runs: 1200, shard: { index: 1, count: 3 } },
    ]) {
      const gen = runGen(driver, options);
      const ahead = new FreshDraws(driver, options, 0);
      const origins = new Set<string>();
      // Over batches of every size (16 samples, then twice as many each time up to 512), with the
      // corpus empty, then holding entries.
      for (let i = 0; i < options.runs; i += 7) {
        const fed = i < 600 ? [] : pool;
        const one = planRun(gen, [], options, i, fed);
        const batched = planRun(gen, [], options, i, fed, [], false, ahead);
        expect(batched.origin).toBe(one.origin);
        expect(batched.value.value_).toEqual(one.value.value_);
        origins.add(one.origin);
      }
      expect([...origins].sort()).toEqual(options.shard === undefined ? ['fresh', 'mutant'] : ['fresh']);
    }
  });

  it('should draw valid mutants whose failures shrink to tokens that replay exactly', async () => {
    const pool = (await runCampaign(mirror(true), { runs: 200, seed: 5 })).corpus.kept;
    const buggy = mirror(false);
    const gen = runGen(buggy, {});
    let mutants = 0;
    let checked = false;
    for (let i = 0; i < 60; i++) {
      const { value, origin } = planRun(gen, [], { seed: 9 }, i, pool);
      if (origin !== 'mutant') continue;
      mutants++;
      validateScenario(value.value_[0]);
      if (checked) continue;
      const r = await runSample(buggy, value.value_, {});
      if (r.verdict !== 'fail') continue;
      const c = await counterexample(buggy, i, { seed: 9 }, pool);
      expect(c.token.startsWith('hmmlab2_')).toBe(true);
      expect((await replayToken(buggy, c.token)).divergence).toBeNull();
      checked = true;
    }
    expect(mutants).toBeGreaterThan(5);
    expect(checked).toBe(true);
  });
});

describe('corpus files', () => {
  it('should write one file per entry under a stable name, and add nothing the second time', async () => {
    const kept = (await runCampaign(mirror(true), { runs: 100, seed: 5 })).corpus.kept;
    const dir = corpusDir(temp(), 'flushing mirror');
    expect(dir.endsWith('flushing_mirror')).toBe(true);
    expect(writeCorpus(dir, kept, 'flushing mirror')).toBe(kept.length);
    expect(writeCorpus(dir, kept, 'flushing mirror')).toBe(0);
    const back = readCorpus(dir);
    expect(back.skipped).toEqual([]);
    expect(new Set(back.entries.map((e) => JSON.stringify(e)))).toEqual(new Set(kept.map((e) => JSON.stringify(e))));
  });

  it('should skip a bad file with the reason and read the others', async () => {
    const kept = (await runCampaign(mirror(true), { runs: 100, seed: 5 })).corpus.kept.slice(0, 1);
    const dir = temp();
    writeCorpus(dir, kept, 'm');
    writeFileSync(join(dir, 'broken.json'), '{"format": "hmmlab-corpus-1", "schedule"');
    writeFileSync(
      join(dir, 'other.json'),
      '{"format": "hmmlab-corpus-1", "schedule": {"kind": "pct", "priorities": [1], "changes": []}, "keys": [], "scenario": {"regions": []}}',
    );
    const r = readCorpus(dir);
    expect(r.entries).toHaveLength(1);
    expect(r.skipped.map((s) => [s.file.slice(dir.length + 1), s.reason.split(' (')[0]])).toEqual([
      ['broken.json', 'not JSON'],
      ['other.json', 'its scenario is not valid'],
    ]);
    expect(readdirSync(dir)).toHaveLength(3);
    expect(readCorpus(join(dir, 'missing'))).toEqual({ entries: [], skipped: [] });
  });

  it('should refuse a corpus folder that is a file, naming it, rather than fail inside readdir', () => {
    const file = join(temp(), 'not-a-folder');
    writeFileSync(file, '');
    expect(() => readCorpus(file)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
    expect(() => readCorpus(file)).toThrow(`corpus folder ${file}: cannot read it (ENOTDIR`);
  });
});
