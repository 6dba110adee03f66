import { describe, expect, it } from 'vitest';
import { runCampaign } from './campaign.js';
import { thpMirror } from './test-thp-mirror.js';

const RUNS = 60;

describe('campaigns over a THP region (shape.thp)', () => {
  it('should catch a device mapping of a whole huge page wider than its notifier interval', async () => {
    const r = await runCampaign(thpMirror(false), { runs: RUNS, seed: 1, shape: { thp: true } });
    const f = r.failure;
    if (f === null) throw new Error(`the wide mirror passed ${RUNS} runs`);
    expect(['missed-flush', 'freed-page-mapped']).toContain(f.violation.rule);
    expect(f.scenario.regions[0]?.thp).toBe(true);
  });

  it('should find nothing in the same runs when the mapping stays inside the interval', async () => {
    const r = await runCampaign(thpMirror(true), { runs: RUNS, seed: 1, shape: { thp: true } });
    expect(r.failure).toBeNull();
    expect(r.runs).toBe(RUNS);
  });
});
