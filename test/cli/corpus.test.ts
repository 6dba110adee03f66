/**
 * `hmmlab fuzz` and its corpus, as a process: the corpus folder written under the working
 * directory (or --corpus), replayed by the next campaign, the same for 1 and 2 workers, a bad file
 * skipped with one warning line, and nothing written with --no-corpus. Every campaign runs in a
 * temporary folder, never in the repo.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../packages/cli/bin/hmmlab.js', import.meta.url));
const driver = fileURLToPath(new URL('./fixtures/correct/driver.ts', import.meta.url));
const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
const temp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hmmlab-cli-corpus-'));
  temps.push(d);
  return d;
};

interface Entry {
  status: string;
  runs: number;
  coverage: { cells: Record<string, number>; reachedCells: number; expectedCells: number };
  corpus: { dir: string | null; loaded: number; skipped: number; added: number; replayed: number; mutants: number; newCoverage: number };
}

/** Runs hmmlab in `cwd` without $HMMLAB_CORPUS (so the default folder applies). */
function fuzz(cwd: string, ...args: string[]): { status: number; entry: Entry; stderr: string } {
  const { HMMLAB_CORPUS: _off, ...env } = process.env;
  const r = spawnSync(process.execPath, [bin, 'fuzz', driver, '--no-typecheck', '--json', '--seed', '3', ...args], {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 600_000,
  });
  const doc = JSON.parse(r.stdout) as { drivers: Entry[] };
  return { status: r.status ?? -1, entry: doc.drivers[0] as Entry, stderr: r.stderr };
}

describe('hmmlab fuzz corpus', () => {
  it('should keep the corpus in .hmmlab/corpus/<driver>, be the same with 2 workers, replay it next time and skip a bad file', () => {
    const cwd = temp();
    const first = fuzz(cwd, '--runs', '120');
    const dir = join(cwd, '.hmmlab', 'corpus', 'mini-correct');
    expect(first.status).toBe(0);
    expect(first.entry.corpus).toMatchObject({ dir: join('.hmmlab', 'corpus', 'mini-correct'), loaded: 0, replayed: 0, skipped: 0 });
    expect(first.entry.corpus.added).toBeGreaterThan(0);
    expect(first.entry.corpus.mutants).toBeGreaterThan(0);
    expect(readdirSync(dir)).toHaveLength(first.entry.corpus.added);

    const other = temp();
    const two = fuzz(other, '--runs', '120', '--workers', '2');
    expect(two.entry.corpus).toEqual({ ...first.entry.corpus });
    expect(two.entry.coverage).toEqual(first.entry.coverage);
    expect(readdirSync(join(other, '.hmmlab', 'corpus', 'mini-correct')).sort()).toEqual(readdirSync(dir).sort());

    // The next campaign replays it; a file that is not an entry is skipped with one warning line.
    writeFileSync(join(dir, 'bad.json'), 'not json');
    const again = fuzz(cwd, '--runs', '120');
    expect(again.status).toBe(0);
    expect(again.stderr.trim().split('\n')).toEqual([
      `hmmlab: warning: corpus file ${join('.hmmlab', 'corpus', 'mini-correct', 'bad.json')} skipped: not JSON`,
    ]);
    expect(again.entry.corpus).toMatchObject({ loaded: first.entry.corpus.added, skipped: 1, replayed: first.entry.corpus.added });
    expect(readdirSync(dir)).toHaveLength(first.entry.corpus.added + again.entry.corpus.added + 1);
  });

  it('should neither read nor write a corpus with --no-corpus', () => {
    const cwd = temp();
    const r = fuzz(cwd, '--runs', '60', '--no-corpus');
    expect(r.status).toBe(0);
    expect(r.entry.corpus).toMatchObject({ dir: null, loaded: 0, added: 0 });
    expect(existsSync(join(cwd, '.hmmlab'))).toBe(false);
  });
});
