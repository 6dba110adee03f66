/**
 * S18, S19, S20 and S23, the bugs happens-before sees on every schedule: the fault path's decision
 * and the callback share no lock. On the serial schedule no interleaving lets the callback in
 * between the two halves of the fault path, and the `data-race` rule alone reports them, as it
 * does on any schedule in which both sides touch the state; the fixed twins pass. A campaign may
 * also run the callback in between (the fault loop's return after its unlock is a preemption
 * point) and report the outcome itself, as expected.json allows.
 */
import { readFileSync } from 'node:fs';
import { checkScenario, RULE_IDS } from '@hmmlab/assertions';
import { arrayDecisions, firstRunnable, HMM_PFN_VALID, type Mm, type MmuNotifierRange } from '@hmmlab/core';
import { exploreSchedules, runCampaign } from '@hmmlab/fuzz';
import { type Device, type DriverDefinition, loadDriver, type Scenario, SharedCell } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { BindMirror } from './lib/svm-bind.js';
import { svmDriver } from './lib/svm-driver.js';
import { type SvmCommit, SvmMirror, type SvmPolicy } from './lib/svm-mirror.js';

const root = new URL('.', import.meta.url).pathname;
const load = (dir: string): Promise<DriverDefinition> => loadDriver(`${root}${dir}/driver.ts`);

const at = { region: 0, page: 0 };
const scenario = (...tasks: Scenario['tasks']): Scenario => ({
  regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks,
});

interface Pair {
  readonly bug: string;
  readonly fixed: string;
  readonly scenario: Scenario;
  /** What the report names. */
  readonly race: RegExp;
}

const PAIRS: Pair[] = [
  {
    // A device fault maps the page under the page-table lock; a migration's callback zaps it under L.
    bug: 's18-retry-under-other-lock',
    fixed: 'controls/n9-retry-under-both-locks',
    race: /^the gpu0 device PTE of 0x[0-9a-f]+: .* no lock in common/,
    scenario: scenario(
      { kind: 'device', ops: [{ op: 'dev-write', ...at, value: 1 }] },
      { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1 }] },
    ),
  },
  {
    // A device fault marks the range bound after dropping L; MADV_DONTNEED's callback reads the mark under L.
    bug: 's19-present-after-unlock',
    fixed: 'controls/n4-not-present-under-lock',
    race: /^shared state "gpu0 tile_present"\[\d+\]: .* no lock in common/,
    scenario: scenario(
      { kind: 'device', ops: [{ op: 'dev-write', ...at, value: 1 }] },
      { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
    ),
  },
  {
    // A device fault DMA-maps the page after dropping L; MADV_DONTNEED's callback unmaps it under L.
    bug: 's20-dma-map-after-unlock',
    fixed: 'controls/n3-nothing-mapped',
    race: /^the gpu0 DMA mappings of pfn 0x[0-9a-f]+: device0#\d+ maps it .* holding no lock, and .* unmaps it .* holding .*gpu0 svm lock; no lock in common/,
    scenario: scenario(
      { kind: 'device', ops: [{ op: 'dev-write', ...at, value: 1 }] },
      { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
    ),
  },
];

const withoutDataRace = RULE_IDS.filter((r) => r !== 'data-race');

describe.each(PAIRS.map((p) => [p.bug, p] as const))('%s', (_name, p) => {
  // The first task runs to its end before the second starts: the accesses come in that order,
  // with no preemption point between the fault path's check and its write.
  it('should be reported as a data race on the serial schedule, and by no other rule', async () => {
    const bug = await load(p.bug);
    const r = await checkScenario(bug, p.scenario, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    // S18 also races on the notifier's sequence: its read_retry is under the other lock too.
    expect(new Set(r.violations.map((v) => v.rule))).toEqual(new Set(['data-race']));
    expect(r.violations.map((v) => v.explanation).find((e) => p.race.test(e))).toMatch(p.race);
    const others = await checkScenario(bug, p.scenario, { decisions: firstRunnable, rules: withoutDataRace });
    expect(others.violations).toEqual([]);
  });

  it('should pass the same scenario with the fixed driver', async () => {
    const r = await checkScenario(await load(p.fixed), p.scenario, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.violations).toEqual([]);
  });

  it('should be found by a default campaign, and the fixed driver should pass 1,000 runs', async () => {
    const found = await runCampaign(await load(p.bug), { runs: 500, seed: 1, shrink: false });
    const expected = (JSON.parse(readFileSync(`${root}${p.bug}/expected.json`, 'utf8')) as { rules: string[] }).rules;
    expect(expected).toContain('data-race');
    expect(expected).toContain(found.failure?.violation.rule);
    const fixed = await runCampaign(await load(p.fixed), { runs: 1000, seed: 1, shrink: false });
    expect(fixed.failure?.violation.rule ?? 'none').toBe('none');
    expect(fixed.runs).toBe(1000);
  });
});

/**
 * S23: the migration decides under the mutex and stores the device entries after dropping it, on
 * a device whose entry updates are atomic (test_hmm's XArray). Two atomic stores are no data race,
 * but an install the invalidation callback's lock does not order is: the callback could run
 * between the decision and the store. No serial schedule shows it (the migration takes the mutex
 * again to read the range back before it returns), so the bounded search looks for one.
 */
describe('s23-store-after-unlock', () => {
  const s23 = scenario(
    { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1 }] },
    { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
  );
  const race =
    /^the hmm_dmirror0 device PTE of 0x[0-9a-f]+: driver0#\d+ writes it .* \(atomically\), and cpu1#\d+ writes it .* in interval notifier .* invalidate, inv #\d+ holding .*hmm_dmirror0 dmirror mutex.* \(atomically\); each update of the entry is atomic, but no lock in common/;

  it('should be reported as a data race within two preemptions, and by no other rule on that schedule', async () => {
    const bug = await load('s23-store-after-unlock');
    const x = await exploreSchedules(bug, s23, { maxPreemptions: 2 });
    const failure = x.failure;
    expect(failure?.violations.map((v) => v.rule)).toEqual(['data-race']);
    expect(failure?.violations[0]?.explanation).toMatch(race);
    const replay = { decisions: arrayDecisions(failure?.run.decisions ?? []), rules: withoutDataRace };
    const others = await checkScenario(bug, s23, replay);
    expect(others.run.status, others.run.message).toBe('done');
    expect(others.violations).toEqual([]);
  });

  it('should pass every schedule of the same search with the fixed driver', async () => {
    const x = await exploreSchedules(await load('../dmirror-fixed'), s23, { maxPreemptions: 2 });
    expect(x.failure).toBeNull();
    expect(x.complete).toBe(true);
    expect(x.schedules).toBeGreaterThan(10);
  });

  it('should be found by a campaign of its shape, and the fixed driver should pass 1,000 runs of it', async () => {
    const shape = { regions: { min: 1, max: 1 }, cpuPrograms: { min: 1, max: 1 }, driverPrograms: { min: 1, max: 1 } };
    const found = await runCampaign(await load('s23-store-after-unlock'), { runs: 2000, seed: 5, shape, shrink: false });
    expect(found.failure?.violation.rule).toBe('data-race');
    const fixed = await runCampaign(await load('../dmirror-fixed'), { runs: 1000, seed: 5, shape, shrink: false });
    expect(fixed.failure?.violation.rule ?? 'none').toBe('none');
    expect(fixed.runs).toBe(1000);
  });
});

/**
 * Device entries written by bind jobs whose fences the invalidation waits for (xe). A job that
 * signals its fence before it writes lets the callback zap first and the write land after: a race
 * on the entry. Signalled after the writes, every write is ordered before the zap; and `unbind`,
 * after waiting out the faults in flight, is ordered after every job, since each fault counts
 * itself out with `atomic_dec_and_test` (a plain count orders only the last fault's, and the
 * correct driver was reported).
 */
describe('bind jobs and their fences', () => {
  const bindDriver = (name: string, fenceFirst: boolean, nonblock: 'bail' | 'trywait') =>
    svmDriver({
      name,
      description: `bind jobs, fence ${fenceFirst ? 'before' : 'after'} the writes, ${nonblock} when non-blockable`,
      memoryPages: 0,
      mirror: class extends BindMirror {
        protected override fenceFirst = fenceFirst;
        protected override nonblock = nonblock;
      },
    });

  it('should report a fence signalled before the writes it stands for as a data race on the entry', async () => {
    const found = await runCampaign(bindDriver('fence-first', true, 'bail'), { runs: 500, seed: 1, shrink: false });
    expect(found.failure?.violation.rule).toBe('data-race');
    expect(found.failure?.violation.explanation).toMatch(/^the gpu0 device PTE of 0x[0-9a-f]+: .* in work gpu0 bind job .* invalidate/);
  });

  it.each(['bail', 'trywait'] as const)(
    'should pass 1,000 runs with the fence signalled after the writes (%s when non-blockable)',
    async (nonblock) => {
      const fixed = await runCampaign(bindDriver('fence-after', false, nonblock), { runs: 1000, seed: 1, shrink: false });
      expect(fixed.failure?.violation.explanation ?? 'none').toBe('none');
      expect(fixed.runs).toBe(1000);
    },
  );
});

/**
 * A "nothing mapped" skip driven by an atomic count of the device's entries (ODP's `npages`): the
 * callback, under the lock after `set_seq`, skips the zap and the flush when the count is 0. The
 * fault path adds its installs to the count after the fault loop dropped the lock: an
 * invalidation in between finds 0 and skips entries that are already there. Every access is atomic,
 * so no data race is reported; the schedule that runs the invalidation there shows the outcome.
 */
describe('a count of mapped entries added to after the unlock', () => {
  class CountedMirror extends SvmMirror {
    protected addAfterUnlock = true;
    private readonly mapped: SharedCell<number>;

    constructor(device: Device, mm: Mm, policy: Partial<SvmPolicy> = {}) {
      super(device, mm, policy);
      this.mapped = new SharedCell(this.kernel, `${device.name} mapped pages`, 0, { atomic: true });
    }

    override invalidateLocked(range: MmuNotifierRange): void {
      if (this.mapped.get() === 0) return;
      super.invalidateLocked(range);
    }

    override revoke(start: number, end: number): void {
      if (this.detached) return;
      const n = this.vm.clearRange(start, end);
      this.vm.flushTlb(start, end);
      this.dmaUnmapRange(start, end);
      if (n > 0) this.mapped.set(Math.max(0, this.mapped.get() - n));
    }

    private installs(c: SvmCommit): number {
      let n = 0;
      for (let i = 0; i < c.range.hmmPfns.length; i++) if (((c.range.hmmPfns[i] as number) & HMM_PFN_VALID) !== 0) n++;
      return n;
    }

    override commit(c: SvmCommit): number {
      const r = super.commit(c);
      if (r === 0 && !this.addAfterUnlock) this.mapped.set(this.mapped.get() + this.installs(c));
      return r;
    }

    override async faultRange(start: number, end: number, write: boolean): Promise<number> {
      const c = { range: this.rangeFor(start, end, write), write };
      const r = await this.faultLoop(c.range, () => this.commit(c));
      if (r === 0 && this.addAfterUnlock) this.mapped.set(this.mapped.get() + this.installs(c));
      return r;
    }
  }
  class CountedUnderLock extends CountedMirror {
    protected override addAfterUnlock = false;
  }

  it('should be found by a default campaign as the skip it causes, and pass 1,000 runs with the count added to under the lock', async () => {
    const bug = svmDriver({
      name: 'count-after-unlock',
      description: 'count added to after the unlock',
      memoryPages: 0,
      mirror: CountedMirror,
    });
    const found = await runCampaign(bug, { runs: 500, seed: 1, shrink: false });
    expect(found.failure?.violation.rule).toBe('missed-flush');
    expect(found.failure?.violation.explanation).toMatch(/returned true after mmu_interval_set_seq only, clearing no device entry/);
    const fixed = svmDriver({
      name: 'count-under-lock',
      description: 'count added to under the lock',
      memoryPages: 0,
      mirror: CountedUnderLock,
    });
    const passed = await runCampaign(fixed, { runs: 1000, seed: 1, shrink: false });
    expect(passed.failure?.violation.explanation ?? 'none').toBe('none');
    expect(passed.runs).toBe(1000);
  });
});
