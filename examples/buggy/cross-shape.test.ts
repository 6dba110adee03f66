/**
 * Correct drivers under the zoo's campaign shapes: every correct template and every control,
 * fuzzed under the shape (and kernel what-if) of every zoo case that has one, must give the result
 * cross-shape.json documents: no violation, or the documented rule with the reason it is right.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { RuleId } from '@hmmlab/assertions';
import { runCampaign, type ScenarioShape } from '@hmmlab/fuzz';
import { loadDriver } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';

const here = new URL('.', import.meta.url).pathname;
const examples = new URL('..', import.meta.url).pathname;

interface Documented {
  readonly runs: number;
  readonly seed: number;
  /** Driver (a template's folder, or `controls/<folder>`) → zoo case → result. */
  readonly drivers: Record<string, Record<string, 'pass' | { readonly rule: RuleId; readonly reason: string }>>;
}
const documented = JSON.parse(readFileSync(`${here}cross-shape.json`, 'utf8')) as Documented;

/** The correct templates: folders of examples/ with a driver and no known bug. */
const templates = readdirSync(examples)
  .filter((d) => d !== 'buggy' && existsSync(`${examples}${d}/driver.ts`) && !existsSync(`${examples}${d}/expected.json`))
  .sort();
const controls = readdirSync(`${here}controls`)
  .filter((d) => existsSync(`${here}controls/${d}/driver.ts`))
  .sort()
  .map((d) => `controls/${d}`);
const drivers = [...templates, ...controls];

/** The zoo cases whose expected.json gives a campaign shape, with it. */
const shapes = readdirSync(here)
  .filter((d) => existsSync(`${here}${d}/expected.json`))
  .sort()
  .flatMap((d) => {
    const shape = (JSON.parse(readFileSync(`${here}${d}/expected.json`, 'utf8')) as { fuzz?: { shape?: ScenarioShape } }).fuzz?.shape;
    return shape === undefined ? [] : [[d, shape] as const];
  });

const fileOf = (d: string): string => (d.startsWith('controls/') ? `${here}${d}/driver.ts` : `${examples}${d}/driver.ts`);

describe('correct drivers under the campaign shapes of the zoo', () => {
  it('should find every template, control and shaped case, and document each pair', () => {
    expect(templates).toEqual(['amdkfd-style', 'amdkfd-style-xnack-off', 'dmirror-fixed', 'mlx5-odp-style', 'nouveau-style', 'xe-style']);
    expect(controls).toHaveLength(9);
    expect(shapes.map(([d]) => d)).toEqual([
      'a2-owner-without-event',
      'b7-foreign-private-page',
      'd1-mmget-not-zero',
      'h2-lock-in-migrate-to-ram',
      's15-exclusive-restore-owner',
      's21-flush-first-granule',
      's22-leaf-only-flush',
      's23-store-after-unlock',
    ]);
    expect(Object.keys(documented.drivers).sort()).toEqual([...drivers].sort());
    for (const d of drivers) expect(Object.keys(documented.drivers[d] ?? {}).sort(), d).toEqual(shapes.map(([c]) => c));
  });

  it.each(drivers)('should give the documented result for %s under each shape', async (d) => {
    const driver = await loadDriver(fileOf(d));
    for (const [c, shape] of shapes) {
      const want = documented.drivers[d]?.[c];
      const r = await runCampaign(driver, { runs: documented.runs, seed: documented.seed, shrink: false, shape });
      if (want === 'pass') {
        expect(r.failure?.violation.explanation ?? 'pass', `${d} under ${c}'s shape`).toBe('pass');
        expect(r.runs).toBe(documented.runs);
      } else {
        expect(want?.reason.length ?? 0, `${d} under ${c}: a documented reason`).toBeGreaterThan(0);
        expect(r.failure?.violation.rule, `${d} under ${c}'s shape`).toBe(want?.rule);
      }
    }
  });
});
