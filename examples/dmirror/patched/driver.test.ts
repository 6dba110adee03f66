/**
 * dmirror-patched, the port with docs/findings/patches/ applied, against the plain port: the A1
 * race of a device write and a migration to the device is gone on every schedule of a small
 * scenario (every rule) and over fuzz campaigns on A1's rule without kernel work, while the plain port is caught at once.
 * HMMLAB_PATCHED_RUNS raises the campaign's run count (the finding page quotes 10,000).
 */
import type { RuleId } from '@hmmlab/assertions';
import { exploreSchedules, runCampaign } from '@hmmlab/fuzz';
import type { DriverDefinition, Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import dmirror from '../driver.js';
import patched from './driver.js';

const RUNS = Number(process.env.HMMLAB_PATCHED_RUNS ?? 500);

/** A device write that mirrors the page, then a second one racing the page's migration to the device. */
const racing: Scenario = {
  profile: '6.1',
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    {
      kind: 'device',
      ops: [
        { op: 'dev-write', region: 0, page: 0, word: 0, value: 3 },
        { op: 'dev-write', region: 0, page: 0, word: 1, value: 4 },
      ],
    },
    { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1 }] },
  ],
};

/**
 * The rule of A1 itself: a copy of a page the mirror still maps writable across its own migration.
 * The campaigns leave out kernel work. The patches leave test_hmm's other races (README.md, "The
 * patched port"), and one of them breaks this rule too: `dmirror_migrate_finalize_and_map` maps
 * destinations whose migration entries an OOM-reaper zap removed, and `migrate_vma_finalize` frees
 * them while mirrored (the rule's free clause). With kernel work, a 10,000-run campaign on 6.1
 * finds it at run 8,948 (seed 1). `lost-write` would count the writes lost to those races as well.
 */
const A1_RULES: RuleId[] = ['own-migration-unrevoked'];

describe('dmirror-patched', () => {
  it('should keep every rule on every schedule with two preemptions of a device write racing a migration', async () => {
    const x = await exploreSchedules(patched as DriverDefinition, racing, { maxPreemptions: 2, maxSchedules: 20_000 });
    expect(x.failure?.violations[0]?.rule ?? 'none').toBe('none');
    expect(x.complete).toBe(true);
    expect(x.schedules).toBeGreaterThan(50);
  });

  it('should differ from dmirror, whose copy of the still mirrored page the same search finds', async () => {
    const x = await exploreSchedules(dmirror as DriverDefinition, racing, { maxPreemptions: 2, maxSchedules: 20_000 });
    expect(x.failure?.violations[0]?.rule).toBe('own-migration-unrevoked');
  });

  it.each(['6.1', 'latest'] as const)(
    'should pass a campaign on the A1 rule on %s, where dmirror fails within its first 100 runs',
    async (profile) => {
      const options = { runs: RUNS, seed: 1, shrink: false, rules: A1_RULES, shape: { kernelWork: false }, profiles: [profile] };
      const fixed = await runCampaign(patched as DriverDefinition, options);
      expect(fixed.failure?.violation.explanation ?? 'pass').toBe('pass');
      expect(fixed.runs).toBe(RUNS);
      const plain = await runCampaign(dmirror as DriverDefinition, options);
      expect(plain.failure?.violation.rule).toBe('own-migration-unrevoked');
      expect(plain.runs).toBeLessThan(100);
    },
  );
});
