/**
 * Sharded campaigns as CI runs them: four `hmmlab fuzz --shard i/4` processes and `hmmlab merge`
 * give the verdict, first violation and replay token of one campaign over the same seed, for a
 * driver of the bug zoo and for a correct driver; merge refuses results of another campaign, and a
 * campaign refuses to resume another campaign's checkpoint.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = fileURLToPath(new URL('../../packages/cli/bin/hmmlab.js', import.meta.url));
const schema = JSON.parse(readFileSync(join(root, 'packages/cli/schema/hmmlab-result.schema.json'), 'utf8')) as object;
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

/** The JSON document's errors against the published schema; '' when it validates. */
function errorsOf(doc: unknown): string {
  return validate(doc) ? '' : JSON.stringify(validate.errors, null, 1);
}

/** Runs hmmlab in a child process. */
function hmmlab(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    p.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    p.on('error', fail);
    p.on('close', (code) => done({ status: code ?? -1, stdout, stderr }));
  });
}

interface Entry {
  driver: string;
  status: string;
  failingRun: number | null;
  replay: string | null;
  runs: number;
  violations: { rule: string; step: number }[];
  flushes: { total: { needed: number } };
  coverage: { cells: Record<string, number> };
}
type Doc = { drivers: Entry[] };

// The zoo driver's first violation (run 25 of seed 3) belongs to shard 2 (25 mod 4 = 1), and the
// correct driver runs every run: both sides of the merge are exercised.
const DRIVERS = ['examples/buggy/s3-early-return-before-set-seq', 'test/cli/fixtures/correct'];
const CAMPAIGN = ['--runs', '80', '--seed', '3', '--no-corpus', '--no-typecheck', '--quiet', '--json'];
const dir = mkdtempSync(join(tmpdir(), 'hmmlab-shard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hmmlab fuzz --shard and hmmlab merge', () => {
  // One campaign without feedback (sharding implies none) and its four shards, side by side.
  const runs = Promise.all([
    hmmlab('fuzz', ...DRIVERS, ...CAMPAIGN, '--no-feedback'),
    ...[1, 2, 3, 4].map((i) => hmmlab('fuzz', ...DRIVERS, ...CAMPAIGN, '--shard', `${i}/4`)),
  ]);

  it('should give the verdict, first violation and token of the one campaign', async () => {
    const [one, ...shards] = await runs;
    expect(one?.status, one?.stderr).toBe(0);
    const files = shards.map((s, i) => {
      // A shard exits 1 when its share of the runs misses the zoo driver's known bug.
      expect([0, 1], s.stderr).toContain(s.status);
      expect(errorsOf(JSON.parse(s.stdout))).toBe('');
      const f = join(dir, `shard-${i + 1}.json`);
      writeFileSync(f, s.stdout);
      return f;
    });
    const merged = await hmmlab('merge', '--json', ...files);
    expect(merged.status, merged.stderr).toBe(0);
    const want = (JSON.parse(one?.stdout ?? '') as Doc).drivers;
    expect(errorsOf(JSON.parse(merged.stdout))).toBe('');
    const got = (JSON.parse(merged.stdout) as Doc).drivers;
    expect(got.map((e) => e.driver)).toEqual(want.map((e) => e.driver));
    for (const [i, w] of want.entries()) {
      const g = got[i] as Entry;
      expect({ status: g.status, failingRun: g.failingRun, replay: g.replay, violations: g.violations }).toEqual({
        status: w.status,
        failingRun: w.failingRun,
        replay: w.replay,
        violations: w.violations,
      });
    }
    const [zoo, correct] = got as [Entry, Entry];
    expect(zoo.status).toBe('caught');
    expect(zoo.failingRun).toBe(25);
    expect(correct.status).toBe('pass');
    // Without a violation the shards ran exactly the campaign's runs: the same runs, flushes, cells.
    const one1 = want[1] as Entry;
    expect({ runs: correct.runs, needed: correct.flushes.total.needed, cells: correct.coverage.cells }).toEqual({
      runs: one1.runs,
      needed: one1.flushes.total.needed,
      cells: one1.coverage.cells,
    });
  });

  it('should refuse, exit 2, the result of a shard of another campaign', async () => {
    const [, ...shards] = await runs;
    const files = shards.map((s, i) => {
      const doc = JSON.parse(s.stdout) as { drivers: { campaign: { seed: number } }[] };
      if (i === 2) for (const e of doc.drivers) e.campaign.seed = 2;
      const f = join(dir, `other-${i + 1}.json`);
      writeFileSync(f, JSON.stringify(doc));
      return f;
    });
    const r = await hmmlab('merge', ...files);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `hmmlab: merge: ${files[2]} ran another campaign of s3-early-return-before-set-seq than ${files[0]}: seed 2 where the first has 3\n`,
    );
  });

  it("should refuse, exit 2, to resume another campaign's checkpoint, and a checkpoint for several drivers", async () => {
    // A checkpoint file as a campaign writes it, but of another campaign (its digest differs).
    const file = join(dir, 'checkpoint.json');
    writeFileSync(file, JSON.stringify({ format: 'hmmlab-checkpoint-1', campaign: 'another', next: 50, total: {}, pool: [], known: [] }));
    const other = await hmmlab(
      'fuzz',
      'test/cli/fixtures/correct',
      '--runs',
      '60',
      '--no-corpus',
      '--no-typecheck',
      '--quiet',
      '--checkpoint',
      file,
    );
    expect(other.status).toBe(2);
    expect(other.stderr).toBe(
      `hmmlab: checkpoint ${file} is of another campaign (another driver, seed, runs, option or corpus); delete it, or give another file\n`,
    );
    const two = await hmmlab('fuzz', ...DRIVERS, '--checkpoint', file, '--no-typecheck');
    expect(two.status).toBe(2);
    expect(two.stderr).toBe('hmmlab: --checkpoint: one driver at a time (2 found); give each driver its own checkpoint file\n');
  });
});
