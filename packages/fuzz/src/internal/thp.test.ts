import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { runCampaign } from './campaign.js';
import { exploreSchedules } from './explore.js';
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

describe('compaction of a THP page while the process exits', () => {
  // Compaction splits the huge page first, and the split sleeps; exit_mmap may free the pages then.
  // Compaction holds its isolation reference across the split (mm/compaction.c
  // isolate_migratepages_block's folio_try_get), so it never takes a reference on a freed page.
  const scenario: Scenario = {
    regions: [{ pages: 512, prot: 'rw', share: 'private', backing: 'anon', populate: 'write', thp: true }],
    tasks: [
      { kind: 'cpu', ops: [{ op: 'exit' }] },
      { kind: 'kernel', ops: [{ op: 'compact', region: 0, page: 71 }] },
    ],
  };

  it('should find nothing on any schedule with one preemption', async () => {
    const r = await exploreSchedules(thpMirror(true), scenario, { maxPreemptions: 1, maxSchedules: 400 });
    expect(r.failure?.violations[0]?.explanation ?? null).toBeNull();
    expect(r.schedules).toBeGreaterThan(1);
  });
});
