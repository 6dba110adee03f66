/**
 * Every case of the zoo is found by fuzzing: campaigns of the default strategy over five seeds,
 * with the campaign shape its expected.json asks for, find it on at least three seeds within 2,000
 * runs, and every rule they report is one of its expected rules. A fixed twin kept beside a case
 * (`fixed.ts`) passes a campaign of the same shape.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { RuleId } from '@hmmlab/assertions';
import { runCampaign, type ScenarioShape } from '@hmmlab/fuzz';
import { loadDriver } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';

const root = new URL('.', import.meta.url).pathname;
const cases = readdirSync(root)
  .filter((d) => existsSync(`${root}${d}/expected.json`))
  .sort();

describe('fuzzing the bug zoo', () => {
  it('should have a case per bug class the model expresses', () => {
    const classes = cases.map((d) => (JSON.parse(readFileSync(`${root}${d}/expected.json`, 'utf8')) as { class: string }).class);
    expect(classes.sort()).toEqual(
      [
        'A1',
        'A2',
        'A4',
        'B7',
        'C1',
        'C2',
        'D1',
        'D2',
        'E1',
        'E2',
        'G2',
        'H2',
        'L1',
        'L2',
        'S1',
        'S2',
        'S3',
        'S5',
        'S7',
        'S11',
        'S13',
        'S15',
        'S16',
        'S17',
        'S18',
        'S19',
        'S20',
        'S21',
        'S22',
        'S23',
        'S24',
        'S25',
      ].sort(),
    );
  });

  it.each(cases)('should find %s with an expected rule on most seeds', async (dir) => {
    const expected = JSON.parse(readFileSync(`${root}${dir}/expected.json`, 'utf8')) as {
      rules: RuleId[];
      fuzz?: { shape?: ScenarioShape };
    };
    const driver = await loadDriver(`${root}${dir}/driver.ts`);
    const found: RuleId[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = await runCampaign(driver, { runs: 2000, seed, shrink: false, shape: expected.fuzz?.shape ?? {} });
      if (r.failure !== null) found.push(r.failure.violation.rule);
    }
    expect(found.length).toBeGreaterThanOrEqual(3);
    for (const rule of found) expect(expected.rules).toContain(rule);
  });

  const twins = cases.filter((d) => existsSync(`${root}${d}/fixed.ts`));

  it('should have the fixed twins of the cases that keep one beside them', () => {
    expect(twins).toEqual([
      'a2-owner-without-event',
      'l1-closed-vm-early-return',
      'l2-pt-freed-before-remove',
      's13-protection-noop',
      's21-flush-first-granule',
      's22-leaf-only-flush',
      's24-dma-unmap-before-flush',
    ]);
  });

  it.each(twins)('should find nothing in the fixed twin of %s under the same campaign shape', async (dir) => {
    const expected = JSON.parse(readFileSync(`${root}${dir}/expected.json`, 'utf8')) as { fuzz?: { shape?: ScenarioShape } };
    const r = await runCampaign(await loadDriver(`${root}${dir}/fixed.ts`), {
      runs: 2000,
      seed: 1,
      shrink: false,
      shape: expected.fuzz?.shape ?? {},
    });
    expect(r.failure?.violation.explanation ?? 'pass').toBe('pass');
    expect(r.runs).toBe(2000);
  });
});
