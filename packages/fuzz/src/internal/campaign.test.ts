import { describe, expect, it } from 'vitest';
import { runCampaign, runSample } from './campaign.js';
import { mirror } from './test-mirror.js';

describe('runCampaign', () => {
  it.each([1, 2, 3, 4])('should shrink the counterexample of seed %i until every op it keeps is needed', async (seed) => {
    const driver = mirror(false);
    const r = await runCampaign(driver, { runs: 500, seed });
    const f = r.failure;
    if (f === null) throw new Error(`seed ${seed} found nothing in 500 runs`);
    expect(f.violation.rule).toBe('missed-flush');
    expect(f.shrunk.opsAfter).toBeLessThanOrEqual(f.shrunk.opsBefore);
    // Without any one of the ops left, the same schedule no longer breaks the rule.
    for (let t = 0; t < f.scenario.tasks.length; t++) {
      const task = f.scenario.tasks[t] as (typeof f.scenario.tasks)[number];
      for (let o = 0; o < task.ops.length; o++) {
        const ops = task.ops.filter((_op, i) => i !== o);
        const tasks =
          ops.length === 0 ? f.scenario.tasks.filter((_x, i) => i !== t) : f.scenario.tasks.map((x, i) => (i === t ? { ...x, ops } : x));
        if (tasks.length === 0) continue;
        const again = await runSample(driver, [{ ...f.scenario, tasks }, f.schedule], {});
        expect(again.violations.map((v) => v.rule)).not.toContain('missed-flush');
      }
    }
  });

  it('should find nothing in the same runs when the callback flushes', async () => {
    const r = await runCampaign(mirror(true), { runs: 500, seed: 1 });
    expect(r.failure).toBeNull();
    expect(r.runs).toBe(500);
  });
});
