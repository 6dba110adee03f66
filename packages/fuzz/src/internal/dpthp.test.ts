import { describe, expect, it } from 'vitest';
import { runCampaign } from './campaign.js';
import { devThpMirror } from './test-dpthp-mirror.js';

const RUNS = 200;
/**
 * The fixed twin's runs: run 336 of seed 1 is a MADV_DONTNEED that zaps a THP's migration entries
 * after its callback ran and before the migration maps the new device folio, which a mirror that
 * maps it without checking for invalidations since the setup installs (`stale-install`).
 */
const FIXED_RUNS = 400;

describe('campaigns over a THP region with device-private THP migration (profile latest)', () => {
  it('should catch a mirror that maps a device-private THP as 512 pages but zaps only the first', async () => {
    const r = await runCampaign(devThpMirror(true), { runs: RUNS, seed: 1, shape: { thp: true } });
    const f = r.failure;
    if (f === null) throw new Error(`the first-page-zap mirror passed ${RUNS} runs`);
    expect(['missed-flush', 'freed-page-mapped', 'own-migration-unrevoked']).toContain(f.violation.rule);
    expect(f.violation.page?.kind).toBe('device-private');
    expect(f.scenario.regions[0]?.thp).toBe(true);
  });

  it('should find nothing in the same runs and more when the invalidation zaps the whole range', async () => {
    const r = await runCampaign(devThpMirror(false), { runs: FIXED_RUNS, seed: 1, shape: { thp: true } });
    expect(r.failure).toBeNull();
    expect(r.runs).toBe(FIXED_RUNS);
    // Huge pages moved whole, and split where the compound destination was missing.
    expect(r.coverage.windows['huge-page-migrated-whole']).toBeGreaterThan(0);
    expect(r.coverage.windows['huge-page-split-for-migration']).toBeGreaterThan(0);
  });
});
