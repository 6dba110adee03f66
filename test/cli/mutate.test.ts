/**
 * `hmmlab mutate` as users run it, on a small correct driver with a few operators and few runs:
 * a dropped flush is killed, a statistics update moved out of the lock is listed as equivalent,
 * and ignoring a failed trylock in a non-blockable callback survives 30 runs (a trylock fails
 * only when a non-blockable invalidation, such as the OOM reaper's, meets the lock held, which
 * so short a campaign does not build: the default campaign's run 35 of seed 1 does), which `--min-score` turns into exit 1.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = fileURLToPath(new URL('../../packages/cli/bin/hmmlab.js', import.meta.url));

function hmmlab(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface Doc {
  counts: Record<string, number>;
  score: { percent: number; detected: number; counted: number };
  mutants: { id: string; status: string; rule?: string; run?: number; token?: string; diff?: string; reason?: string }[];
}

describe('hmmlab mutate', () => {
  it('should kill a dropped flush, honour an equivalent mutant, report a survivor with its diff and exit 1 below --min-score', () => {
    const ops = ['drop-tlb-flush', 'flag-after-unlock', 'ignore-trylock-failure'];
    const r = hmmlab('mutate', 'test/cli/fixtures/mutate', '--runs', '30', '--operator', ...ops, '--min-score', '60', '--json');
    const doc = JSON.parse(r.stdout) as Doc;
    const by = (op: string) => doc.mutants.find((m) => m.id.startsWith(`${op}@`));
    expect(by('drop-tlb-flush')).toMatchObject({
      id: 'drop-tlb-flush@driver.ts:mmuIntervalNotifierInsert().invalidate#0',
      status: 'killed',
      rule: 'missed-flush',
    });
    expect(by('drop-tlb-flush')?.token).toMatch(/^hmmlab2_/);
    expect(by('flag-after-unlock')).toMatchObject({ status: 'equivalent' });
    expect(by('flag-after-unlock')?.reason).toMatch(/nothing reads/);
    expect(by('ignore-trylock-failure')).toMatchObject({ status: 'survived' });
    expect(by('ignore-trylock-failure')?.diff).toContain('+              if (!lock.tryLock()) return true;');
    expect(doc.counts).toMatchObject({ total: 3, killed: 1, survived: 1, equivalent: 1, invalid: 0, 'timed-out': 0 });
    expect(doc.score).toEqual({ percent: 50, detected: 1, counted: 2 });
    expect(r.stderr).toMatch(/\[3\/3\] /);
    // Without --workers, as many mutants at once as the cores hold.
    expect(r.stderr).toContain(`, 30 runs each (seed 1), ${Math.min(3, availableParallelism())} at once\n`);
    expect(r.status).toBe(1);
  });

  it('should count a mutant that stops the driver from loading as invalid, not killed', () => {
    const r = hmmlab('mutate', 'test/cli/fixtures/mutate-probe', '--runs', '5', '--operator', 'stop-advance', '--max-heap', '64', '--json');
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.mutants).toEqual([
      expect.objectContaining({
        id: 'stop-advance@driver.ts:defineDriver().probe#0',
        status: 'invalid',
        reason: expect.stringMatching(/^does not load: /),
      }),
    ]);
    expect(doc.counts).toMatchObject({ total: 1, killed: 0, invalid: 1 });
  });
});
