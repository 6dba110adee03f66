/**
 * dmirror-patched, the port with docs/findings/patches/ applied, against the plain port: the A1
 * race of a device write and a migration to the device (0002), a migration's destination mapped
 * after a zap (0003) and an ATOMIC entry stored after a zap (0004) are gone on every schedule of
 * small scenarios (every rule), and a fuzz campaign on every rule with kernel work passes, while
 * the plain port is caught. HMMLAB_PATCHED_RUNS raises the campaign's run count (the finding page
 * quotes 10,000).
 */
import { firstRunnable, mmuIntervalReadBegin } from '@hmmlab/core';
import { exploreSchedules, runCampaign } from '@hmmlab/fuzz';
import { type DriverDefinition, defineDriver, runScenario, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import dmirror from '../driver.js';
import { dmirrorProbe } from '../probe.js';
import patched, { DmirrorPatched } from './driver.js';

/** 0004 as first written: the sequence read before the conversion, the pages not faulted in first. */
class NoFaultInFirst extends DmirrorPatched {
  override exclusiveStart(): Promise<number | null> {
    return mmuIntervalReadBegin(this.notifier);
  }
}

/** `HMM_DMIRROR_EXCLUSIVE` of `pages` pages, then again while they are still device-exclusive (docs/findings/exclusive-again.c). */
const exclusiveAgain = (profile: '6.1' | 'latest', pages: number): Scenario => ({
  profile,
  regions: [{ pages, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    {
      kind: 'driver',
      ops: [
        { op: 'make-exclusive', region: 0, page: 0, pages },
        { op: 'make-exclusive', region: 0, page: 0, pages },
      ],
    },
  ],
});

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

/** A migration to the device racing `MADV_DONTNEED` of the page; the mirror never mapped it, so A1 cannot occur. */
const zapDuringMigration = (profile: '6.1' | 'latest'): Scenario => ({
  profile,
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1 }] },
    { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
  ],
});

/** `HMM_DMIRROR_EXCLUSIVE` of the page racing `MADV_DONTNEED` of it, then a device write. */
const zapDuringExclusive = (profile: '6.1' | 'latest'): Scenario => ({
  profile,
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    { kind: 'driver', ops: [{ op: 'make-exclusive', region: 0, page: 0, pages: 1 }] },
    { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
  ],
});

const explore = (driver: unknown, scenario: Scenario) =>
  exploreSchedules(driver as DriverDefinition, scenario, { maxPreemptions: 2, maxSchedules: 20_000 });

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

  it.each(['6.1', 'latest'] as const)('should not map a destination a zap unmapped during the migration on %s (0003)', async (profile) => {
    const x = await explore(patched, zapDuringMigration(profile));
    expect(x.failure?.violations[0]?.rule ?? 'none').toBe('none');
    expect(x.complete).toBe(true);
    const plain = await explore(dmirror, zapDuringMigration(profile));
    expect(plain.failure?.violations[0]?.rule).toBe('stale-install');
    // dmirror_migrate_finalize_and_map mirrors the destination, which the CPU no longer maps.
    expect(plain.failure?.violations[0]?.page?.kind).toBe('device-private');
  });

  it.each(['6.1', 'latest'] as const)(
    'should take pages again while they are still device-exclusive on %s, as the kernel does (0004)',
    async (profile) => {
      // The kernel with 0001-0004: 20 of 20 second calls return 0, and 20 of 20 return -EBUSY with
      // 0004 as first written (docs/findings/oracle/exclusive-again-6.1-0001-0004*.txt).
      const v1 = defineDriver({
        name: 'dmirror-patched-0004-v1',
        description: '0004 without the fault-in',
        profiles: ['6.1', 'latest'],
        probe: (kernel) => dmirrorProbe(kernel, NoFaultInFirst),
      });
      for (const pages of [1, 64]) {
        const r = await runScenario(patched as DriverDefinition, exclusiveAgain(profile, pages), { decisions: firstRunnable });
        expect(r.outcomes.map((o) => o.ret)).toEqual([0, 0]);
        const first = await runScenario(v1, exclusiveAgain(profile, pages), { decisions: firstRunnable });
        expect(first.outcomes.map((o) => o.ret)).toEqual([0, -16]);
      }
    },
  );

  it.each(['6.1', 'latest'] as const)('should not store an ATOMIC entry a zap made stale on %s (0004)', async (profile) => {
    const x = await explore(patched, zapDuringExclusive(profile));
    expect(x.failure?.violations[0]?.rule ?? 'none').toBe('none');
    expect(x.complete).toBe(true);
    const plain = await explore(dmirror, zapDuringExclusive(profile));
    expect(plain.failure?.violations[0]?.rule).toBe('stale-install');
    expect(plain.failure?.violations[0]?.explanation).toMatch(/→ pfn \d+ r atomic, but the CPU entry is none/);
  });

  it.each(['6.1', 'latest'] as const)(
    'should pass a campaign on every rule with kernel work on %s, where dmirror fails within its first 100 runs',
    async (profile) => {
      const options = { runs: RUNS, seed: 1, shrink: false, profiles: [profile] };
      const fixed = await runCampaign(patched as DriverDefinition, options);
      expect(fixed.failure?.violation.explanation ?? 'pass').toBe('pass');
      expect(fixed.runs).toBe(RUNS);
      const plain = await runCampaign(dmirror as DriverDefinition, options);
      expect(plain.failure).toBeDefined();
      expect(plain.runs).toBeLessThan(100);
    },
  );
});
