import {
  firstRunnable,
  MMU_NOTIFY_EXCLUSIVE,
  MmuIntervalNotifier,
  MmuNotifier,
  makeDeviceExclusiveRange,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  mmuNotifierRegister,
  type Page,
  seededDecisions,
  type TraceEvent,
  ULONG_MAX,
  yieldPoint,
} from '@hmmlab/core';
import { Device, defineDriver, HMM_RANGE_DEFAULT_TIMEOUT, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../vitest.js';
import { checkScenario } from './check.js';
import { formatViolation, type Violation } from './report.js';
import { SELF_RETRY_LIMIT } from './rules/self-retry.js';
import type { RuleId } from './rules.js';
import { type Knobs, knobDriver } from './test-driver.js';

const anon = (pages: number, populate: 'none' | 'write' = 'write') =>
  ({ pages, prot: 'rw', share: 'private', backing: 'anon', populate }) as const;

/** Runs tasks one after another, in the order given. */
async function sequential(knobs: Knobs, scenario: Scenario, rules?: RuleId[]) {
  return checkScenario(knobDriver(knobs), scenario, { decisions: firstRunnable, trace: 'all', ...(rules ? { rules } : {}) });
}

const mapThenUnmap: Scenario = {
  regions: [anon(2)],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 5 }] },
    { kind: 'cpu', ops: [{ op: 'munmap', region: 0, page: 0, pages: 2 }] },
  ],
};

describe('oracle options', () => {
  it.each([
    ['an unknown rule', { rules: ['missed-flsh'] }, /oracle options: rule "missed-flsh": expected one of missed-flush, /],
    ['no rule', { rules: [] }, /oracle options: rules: expected at least one of missed-flush, /],
    ['no trace window', { traceWindow: 0 }, /traceWindow 0: expected an integer ≥ 1/],
    ['a negative trace window', { traceWindow: -1 }, /traceWindow -1/],
    ['no violations kept', { maxViolations: 0 }, /maxViolations 0: expected an integer ≥ 1/],
    ['a verdict-only flag that is no boolean', { verdictOnly: 'yes' }, /verdictOnly yes: expected true or false/],
    [
      'a misspelt option',
      { rule: ['missed-flush'] },
      /checkScenario: unknown option "rule"; the options are decisions, observers, maxSteps, trace, stopOnFirst, maxViolations, traceWindow, verdictOnly, rules/,
    ],
  ])('should refuse %s rather than give a verdict that checked less than it says', async (_what, options, message) => {
    await expect(checkScenario(knobDriver({}), mapThenUnmap, { decisions: firstRunnable, ...(options as object) })).rejects.toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });

  it('should check the one rule it is given', async () => {
    const r = await checkScenario(knobDriver({ flush: 'none' }), mapThenUnmap, {
      decisions: firstRunnable,
      rules: ['missed-flush'],
      traceWindow: 1,
      maxViolations: 1,
    });
    expect(r.violations.map((v) => v.rule)).toEqual(['missed-flush']);
    expect(r.violations[0]?.trace).toHaveLength(1);
  });
});

describe('a verdict-only oracle', () => {
  it.each<[string, Knobs, 'pass' | 'fail']>([
    ['a driver that never flushes', { flush: 'none' }, 'fail'],
    ['a driver that neither zaps nor flushes', { zap: false, flush: 'none' }, 'fail'],
    ['the fixed driver', {}, 'pass'],
  ])(
    'should give %s the verdict and rules of the whole oracle, without a trace window or lock and page-alloc events',
    async (_what, knobs, verdict) => {
      const run = (verdictOnly: boolean) =>
        checkScenario(knobDriver(knobs), mapThenUnmap, { decisions: firstRunnable, trace: 'none', verdictOnly });
      const whole = await run(false);
      const only = await run(true);
      expect(only.verdict).toBe(verdict);
      expect(only.verdict).toBe(whole.verdict);
      expect(only.violations.map((v) => [v.rule, v.step, v.seq, v.va])).toEqual(whole.violations.map((v) => [v.rule, v.step, v.seq, v.va]));
      expect({ coverage: only.coverage, metrics: only.metrics, run: only.run }).toEqual({
        coverage: whole.coverage,
        metrics: whole.metrics,
        run: whole.run,
      });
      for (const v of only.violations) expect(v.trace).toEqual([]);
      for (const v of whole.violations) expect(v.trace.length).toBeGreaterThan(0);
      // The lock and page-alloc events no rule reads: made for the whole oracle, not for this one.
      expect([whole.result.world.kernel.trace.locks, whole.result.world.kernel.trace.allocs]).toEqual([true, true]);
      expect([only.result.world.kernel.trace.locks, only.result.world.kernel.trace.allocs]).toEqual([false, false]);
    },
  );
});

describe('missed-flush', () => {
  it.each<[string, Knobs]>([
    ['no zap and no flush', { zap: false, flush: 'none' }],
    ['a zap without a TLB flush', { flush: 'none' }],
    ['a fenced flush not waited for', { flush: 'fence-nowait' }],
  ])('should fire for %s', async (_name, knobs) => {
    const r = await sequential(knobs, mapThenUnmap);
    expect(r).toViolate('missed-flush');
    const v = r.violations.find((x) => x.rule === 'missed-flush');
    expect(v?.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
    expect(v?.translations.length).toBeGreaterThan(0);
  });

  it.each<[string, Knobs]>([
    ['a synchronous flush', {}],
    ['a fenced flush that is waited for', { flush: 'fence-wait' }],
  ])('should stay silent for %s', async (_name, knobs) => {
    const r = await sequential(knobs, mapThenUnmap);
    expect(r).toKeepFlushContract();
    // The device's one translation (page 0) had to go, and went in the callback.
    expect(r.metrics.total).toMatchObject({ needed: 1, performed: 1, missed: 0, unnecessary: 0, legalSkips: 0 });
  });
});

describe('a wait whose promise is dropped', () => {
  it('should end the run blaming the task whose callback dropped the wait, not the one running', async () => {
    const r = await sequential({ flush: 'fence-wait-dropped' }, mapThenUnmap);
    expect(r).toViolate('callback-threw');
    const v = r.violations[0];
    expect(v?.rule).toBe('callback-threw');
    expect(v?.explanation).toContain('was not awaited at once');
    // The callback ran in the task that unmapped (a CPU task), which the flush's own task is not.
    expect(v?.explanation).toMatch(/^task cpu\d#\d+ threw .*task cpu\d#\d+ (was still blocked|went on after it blocked)/);
  });

  it('should pass when the same wait is awaited', async () => {
    expect(await sequential({ flush: 'fence-wait' }, mapThenUnmap)).toKeepFlushContract();
  });
});

describe('freed-page-mapped', () => {
  it('should fire when a page is freed under a device translation', async () => {
    const r = await sequential({ zap: false, flush: 'none' }, mapThenUnmap, ['freed-page-mapped']);
    expect(r).toViolate('freed-page-mapped');
  });

  it('should stay silent when the driver zapped and flushed', async () => {
    const r = await sequential({}, mapThenUnmap, ['freed-page-mapped']);
    expect(r).toKeepFlushContract();
  });
});

const forkThenWrite = (last: 'dev-read' | 'dev-write'): Scenario => ({
  regions: [anon(1)],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 11 }] },
    { kind: 'cpu', ops: [{ op: 'fork' }, { op: 'write', region: 0, page: 0, value: 22 }] },
    {
      kind: 'device',
      ops: [last === 'dev-read' ? { op: 'dev-read', region: 0, page: 0 } : { op: 'dev-write', region: 0, page: 0, value: 33 }],
    },
  ],
});

describe('lost-write and stale-read', () => {
  it('should report lost-write when the device writes the old page after a COW', async () => {
    const r = await sequential({ zap: false, flush: 'none' }, forkThenWrite('dev-write'), ['lost-write']);
    expect(r).toViolate('lost-write');
  });

  it('should report stale-read when the device reads the old page after a COW', async () => {
    const r = await sequential({ zap: false, flush: 'none' }, forkThenWrite('dev-read'), ['stale-read']);
    expect(r).toViolate('stale-read');
  });

  it.each(['dev-read', 'dev-write'] as const)('should stay silent for %s with the correct driver', async (last) => {
    const r = await sequential({}, forkThenWrite(last));
    expect(r).toKeepFlushContract();
  });
});

describe('lost-write after MADV_FREE of a swapped-out page', () => {
  const swapThenFree = (advice: 'free' | 'dontneed'): Scenario => ({
    regions: [anon(1)],
    tasks: [
      { kind: 'kernel', ops: [{ op: 'reclaim', region: 0, page: 0 }] },
      {
        kind: 'cpu',
        ops: [
          { op: 'madvise', region: 0, page: 0, pages: 1, advice },
          { op: 'read', region: 0, page: 0 },
        ],
      },
    ],
  });

  it.each(['free', 'dontneed'] as const)('should accept the zero read after MADV_%s discarded the swapped-out data', async (advice) => {
    const r = await sequential({}, swapThenFree(advice));
    expect(r.result.outcomes.find((o) => o.op === 'read')?.ret).toBe(0);
    expect(r).toKeepFlushContract();
  });
});

const migrateWhileMapped: Scenario = {
  regions: [anon(2)],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 1 }] },
    { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 2 }] },
    { kind: 'cpu', ops: [{ op: 'read', region: 0, page: 0 }] },
  ],
};

describe('own-migration-unrevoked', () => {
  it('should fire when an own-MIGRATE skip leaves a writable translation at the copy', async () => {
    const r = await sequential({ ownerSkip: 'checked', revokeBeforeCopy: false }, migrateWhileMapped);
    expect(r).toViolate('own-migration-unrevoked');
    expect(r.violations.some((v) => v.rule === 'missed-flush')).toBe(false);
  });

  it('should stay silent when the migration path revokes before copying', async () => {
    const r = await sequential({ ownerSkip: 'checked', revokeBeforeCopy: true }, migrateWhileMapped);
    expect(r).toKeepFlushContract();
    expect(r.metrics.total.legalSkips).toBeGreaterThan(0);
  });

  it('should find the lost write of that hazard under some interleaving', async () => {
    const racy: Scenario = {
      regions: [anon(1)],
      tasks: [
        {
          kind: 'device',
          ops: [
            { op: 'dev-write', region: 0, page: 0, value: 1 },
            { op: 'dev-write', region: 0, page: 0, value: 2 },
            { op: 'dev-write', region: 0, page: 0, value: 3 },
          ],
        },
        { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1 }] },
      ],
    };
    let found = false;
    for (let seed = 1; seed <= 60 && !found; seed++) {
      const r = await checkScenario(knobDriver({ ownerSkip: 'checked', revokeBeforeCopy: false }), racy, {
        decisions: seededDecisions(seed),
        rules: ['lost-write'],
      });
      found = r.violations.some((v) => v.rule === 'lost-write');
    }
    expect(found).toBe(true);
  });
});

describe('stale-install', () => {
  const race: Scenario = {
    regions: [anon(1)],
    tasks: [
      { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] },
      { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
    ],
  };

  it('should fire under some interleaving when the seq check is not held until programming', async () => {
    let found = false;
    for (let seed = 1; seed <= 80 && !found; seed++) {
      const r = await checkScenario(knobDriver({ retryUnderLock: false }), race, {
        decisions: seededDecisions(seed),
        rules: ['stale-install'],
      });
      found = r.violations.some((v) => v.rule === 'stale-install');
    }
    expect(found).toBe(true);
  });

  it('should stay silent for every interleaving tried with the check under the lock', async () => {
    for (let seed = 1; seed <= 80; seed++) {
      const r = await checkScenario(knobDriver({}), race, { decisions: seededDecisions(seed) });
      expect(r).toKeepFlushContract();
    }
  });
});

const reaped: Scenario = {
  regions: [anon(1)],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] },
    { kind: 'kernel', ops: [{ op: 'oom-reap' }] },
  ],
};

describe('sleep-in-nonblockable', () => {
  it('should fire when the callback sleeps in the OOM reaper path', async () => {
    expect(await sequential({ nonBlockable: 'sleep' }, reaped)).toViolate('sleep-in-nonblockable');
  });

  it('should stay silent with a trylock', async () => {
    expect(await sequential({}, reaped)).toKeepFlushContract();
  });

  it('should catch a non-blockable callback that returns true untouched as a missed flush', async () => {
    expect(await sequential({ nonBlockable: 'true' }, reaped)).toViolate('missed-flush');
  });
});

describe('false-while-blockable', () => {
  it('should fire when an interval callback returns false for a blockable range', async () => {
    expect(await sequential({ falseWhenBlockable: true }, mapThenUnmap)).toViolate('false-while-blockable');
  });
});

describe('lock-leak and deadlock', () => {
  it('should report the leaked lock, then the deadlock it causes', async () => {
    const r = await sequential(
      { leakLock: true },
      { ...mapThenUnmap, tasks: [...mapThenUnmap.tasks, { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 1 }] }] },
    );
    expect(r).toViolate('lock-leak');
  });

  it('should name a blocked task of the deadlock, not the setup task the ended run left current', async () => {
    const unmapTwice: Scenario = {
      regions: [anon(2)],
      tasks: [
        {
          kind: 'cpu',
          ops: [
            { op: 'munmap', region: 0, page: 0, pages: 1 },
            { op: 'munmap', region: 0, page: 1, pages: 1 },
          ],
        },
      ],
    };
    const r = await sequential({ leakLock: true }, unmapTwice, ['deadlock']);
    expect(r.run.status).toBe('deadlock');
    expect(r.violations.map((x) => x.rule)).toEqual(['deadlock']);
    expect(r.violations[0]?.task).toMatch(/^cpu0#\d+$/);
    // It blocked in the callback of its second munmap, on the lock the first one leaked.
    expect(r.violations[0]?.context).toMatch(/^interval notifier "knob" invalidate/);
  });

  it('should stay silent when the lock is released', async () => {
    expect(await sequential({}, mapThenUnmap)).toStayLive();
  });
});

describe('callback-threw and callback-hung', () => {
  it('should name the callback that threw, and the task it ran in rather than the setup task the ended run left current', async () => {
    const r = await sequential({ throwInInvalidate: true }, mapThenUnmap);
    expect(r).toViolate('callback-threw');
    const v = r.violations.find((x) => x.rule === 'callback-threw');
    expect(v?.context).toContain('interval notifier "knob"');
    // The munmap's task (cpu1) ran the callback.
    expect(v?.task).toMatch(/^cpu1#\d+$/);
  });

  it('should not blame the driver for the model breaking its own invariant in its callback: the run has no verdict', async () => {
    await expect(sequential({ internalErrorInInvalidate: true }, mapThenUnmap)).rejects.toMatchObject({
      code: 'ERR_INTERNAL',
      message: expect.stringMatching(/knob: the model broke an invariant .*please report it/),
    });
  });

  it("should give no verdict on a driver that calls an API its run's kernel profile lacks, and a verdict on its own profile", async () => {
    const migrate: Scenario = {
      regions: [anon(1)],
      tasks: [{ kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1 }] }],
    };
    // The knob driver passes pgmapOwner and flags, which 5.8's migrate_vma (src_owner) does not have.
    await expect(sequential({}, { ...migrate, profile: '5.8' })).rejects.toMatchObject({
      name: 'ProfileMismatchError',
      code: 'ERR_PROFILE',
      message: expect.stringMatching(
        /^migrate_vma_setup: flags and pgmapOwner do not exist in profile 5\.8 .*\(task driver\d#\d+ at step \d+\): the driver is not written for this kernel profile$/,
      ),
    });
    expect(await sequential({}, { ...migrate, profile: '5.9' })).toRunWithoutDriverFailure();
  });

  it('should report a callback that never settles and return, naming the task it hung in', async () => {
    const r = await sequential({ hangInInvalidate: true }, mapThenUnmap);
    expect(r).toViolate('callback-hung');
    expect(r.violations.find((x) => x.rule === 'callback-hung')?.task).toMatch(/^cpu1#\d+$/);
  });

  it('should stay silent for a driver that neither throws nor hangs', async () => {
    expect(await sequential({}, mapThenUnmap)).toRunWithoutDriverFailure();
  });
});

describe('start-failed-with-end', () => {
  const classic = (withEnd: boolean) =>
    defineDriver({
      name: 'classic',
      probe(kernel) {
        const dev = new Device(kernel, { name: 'c0' });
        return {
          devices: [dev],
          async bind(mm) {
            const vm = dev.createVm(mm);
            const sub = new MmuNotifier(
              {
                invalidateRangeStart: (_s, range) => {
                  vm.clearRange(range.start, range.end);
                  vm.flushTlb(range.start, range.end);
                  return range.flags === 0 ? -11 : 0;
                },
                ...(withEnd ? { invalidateRangeEnd: () => {} } : {}),
              },
              'classic',
            );
            await mmuNotifierRegister(sub, mm);
            return { vms: [vm] };
          },
        };
      },
    });
  const scenario: Scenario = { regions: [anon(1)], tasks: [{ kind: 'kernel', ops: [{ op: 'oom-reap' }] }] };

  it('should fire when a start that can fail comes with an end', async () => {
    expect(await checkScenario(classic(true), scenario, { decisions: firstRunnable })).toViolate('start-failed-with-end');
  });

  it('should stay silent without the end callback', async () => {
    expect(await checkScenario(classic(false), scenario, { decisions: firstRunnable })).toRespectBlockability();
  });
});

describe('livelock', () => {
  it('should report a fault that never resolves', async () => {
    const stuck = defineDriver({
      name: 'stuck',
      probe(kernel) {
        const dev = new Device(kernel, { name: 's0' });
        return { devices: [dev], bind: async (mm) => ({ vms: [dev.createVm(mm, { fault: () => 0 })] }) };
      },
    });
    const r = await checkScenario(
      stuck,
      { regions: [anon(1)], tasks: [{ kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] }] },
      { decisions: firstRunnable },
    );
    expect(r).toViolate('livelock');
  });

  it('should name the task that kept running, not the setup, when a loop only yields', async () => {
    // A release that waits for device pages that never come back, yielding and checking again.
    const waitsForever = defineDriver({
      name: 'waits-forever',
      probe(kernel) {
        const dev = new Device(kernel, { name: 'w0' });
        return {
          devices: [dev],
          bind: async (mm) => ({
            vms: [dev.createVm(mm)],
            async unbind() {
              for (;;) await yieldPoint();
            },
          }),
        };
      },
    });
    const r = await checkScenario(
      waitsForever,
      { regions: [anon(1)], tasks: [{ kind: 'driver', name: 'closer', ops: [{ op: 'unbind' }] }] },
      { decisions: firstRunnable, maxSteps: 2_000 },
    );
    const v = r.violations.find((x) => x.rule === 'livelock');
    expect(v?.task).toMatch(/^closer#/);
    expect(v?.explanation).toMatch(/the last to run was closer#\d+/);
  });
});

describe('own EXCLUSIVE skips', () => {
  /** A device that takes a page exclusively for atomics and skips every EXCLUSIVE invalidation carrying its owner (N2). */
  const exclusiveSkipper = defineDriver({
    name: 'exclusive-skipper',
    probe(kernel) {
      const dev = new Device(kernel, { name: 'x0', atomics: 'exclusive' });
      return {
        devices: [dev],
        async bind(mm) {
          const vm = dev.createVm(mm);
          const mni = new MmuIntervalNotifier('x');
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % kernel.pageSize), {
            invalidate(sub, range, curSeq) {
              if (range.event === MMU_NOTIFY_EXCLUSIVE && range.owner === dev.owner) return true;
              mmuIntervalSetSeq(sub, curSeq);
              vm.clearRange(range.start, range.end);
              vm.flushTlb(range.start, range.end);
              return true;
            },
          });
          return {
            vms: [vm],
            async makeExclusive(start) {
              const pages: (Page | null)[] = [null];
              await mm.mmapLock.downRead();
              await makeDeviceExclusiveRange(mm, start, start + kernel.pageSize, pages, dev.owner);
              mm.mmapLock.upRead();
              const page = pages[0];
              if (page === null || page === undefined) return -16;
              vm.setPte(start, page, { write: true, atomic: true });
              kernel.pages.unlockPage(page);
              kernel.pages.putPage(page);
              return 0;
            },
          };
        },
      };
    },
  });
  const takeThenTouch = (whatIf: boolean): Scenario => ({
    profile: '6.1',
    ...(whatIf ? { profileOverrides: { exclusiveRestoreOwner: 'caller' } } : {}),
    regions: [anon(1)],
    tasks: [
      { kind: 'driver', ops: [{ op: 'make-exclusive', region: 0, page: 0, pages: 1 }] },
      { kind: 'cpu', ops: [{ op: 'write', region: 0, page: 0, value: 9 }] },
    ],
  });

  it('should report the atomic translation kept across an own-owner EXCLUSIVE that gives the page back to the CPU', async () => {
    const r = await checkScenario(exclusiveSkipper, takeThenTouch(true), { decisions: firstRunnable });
    expect(r).toViolate('missed-flush');
    const v = r.violations.find((x) => x.rule === 'missed-flush');
    expect(v?.invalidation?.event).toBe('MMU_NOTIFY_EXCLUSIVE');
    expect(v?.invalidation?.ownOwner).toBe(true);
  });

  it('should accept the skip of its own conversion, and a revocation without owner that it processes', async () => {
    const r = await checkScenario(exclusiveSkipper, takeThenTouch(false), { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
    expect(r.metrics.total.performed).toBeGreaterThan(0);
  });
});

describe("a report's trace window", () => {
  // The oracle does without scheduler switches: with a trace that keeps nothing they are not made,
  // and the window counts the other events only, so a report's window is the same either way.
  it('should be the same whether or not the trace makes switch events', async () => {
    let reported = 0;
    for (const seed of [0, 1, 2, 3, 4, 5, 6]) {
      // A seeded source is used up by a run: each run gets its own.
      const run = (trace: 'none' | 'ring') =>
        checkScenario(knobDriver({ zap: false, flush: 'none' }), mapThenUnmap, {
          decisions: seed === 0 ? firstRunnable : seededDecisions(seed),
          trace,
          traceWindow: 8,
        });
      const without = await run('none');
      const made = await run('ring');
      expect(made.result.world.kernel.trace.events().some((e) => e.type === 'switch')).toBe(true);
      expect(without.violations).toEqual(made.violations);
      for (const v of without.violations) {
        reported++;
        // Two pages: no run of like events is long enough to leave one out.
        expect(v.elided).toBeUndefined();
        const before = made.result.world.kernel.trace.events().filter((e) => e.type !== 'switch' && e.seq <= v.seq);
        expect(v.trace.map((e) => e.seq)).toEqual(before.slice(-8).map((e) => e.seq));
      }
    }
    expect(reported).toBeGreaterThan(0);
  });

  const thp = (ops: Scenario['tasks'][number]['ops']): Scenario => ({
    regions: [{ pages: 512, prot: 'rw', share: 'private', backing: 'anon', populate: 'write', thp: true }],
    tasks: [
      { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 3, value: 5 }] },
      { kind: 'cpu', ops },
    ],
  });

  it("should keep the events that explain a report past a THP's 512 entry changes and page frees", async () => {
    const r = await sequential({ flush: 'none' }, thp([{ op: 'munmap', region: 0, page: 0, pages: 512 }]));
    // At the free of the device's page: the whole region's entries were cleared, then its pages freed.
    const v = r.violations.find((x) => x.rule === 'freed-page-mapped');
    expect(v).toBeDefined();
    const text = formatViolation(v as Violation);
    // The device's own entry and the callback that did not flush are in the window...
    expect(text).toMatch(/knob0 pte 0x[0-9a-f]+: none -> pfn \d+ rw \[map\]/);
    expect(text).toMatch(/knob invalidate returned true/);
    // ...and the exit's entry changes are their first and last, with what was left out between.
    expect(text).toMatch(/cpu pte .*-> none \[munmap, inv #\d+\]\n {16}… 510 more like these\n.*cpu pte .*-> none \[munmap/);
    expect(v?.elided?.map((g) => g.count)).toContain(510);
    expect(v?.trace.length).toBeLessThanOrEqual(40);
    // What was left out is exactly the events between two kept ones, all of the same kind.
    const events = r.result.world.kernel.trace.events();
    for (const g of v?.elided ?? []) {
      const i = v?.trace.findIndex((e) => e.seq === g.before) as number;
      const prev = v?.trace[i - 1] as TraceEvent;
      const between = events.filter((e) => e.seq > prev.seq && e.seq < g.before && e.type !== 'switch');
      expect(between).toHaveLength(g.count);
      expect(between.every((e) => e.type === prev.type && e.task === prev.task)).toBe(true);
    }
  });

  it('should leave out only the middle of a run of like events, and keep every event before it', async () => {
    const r = await sequential({ flush: 'none' }, thp([{ op: 'munmap', region: 0, page: 0, pages: 512 }]));
    const v = r.violations.find((x) => x.rule === 'missed-flush');
    // At the 4th entry change: the first of the run kept, the 2nd and 3rd left out.
    expect(v?.elided?.at(-1)).toEqual({ before: v?.seq, count: 2 });
    // The populating writes are a run too; every event from the last of them on is kept.
    const events = r.result.world.kernel.trace.events().filter((e) => e.type !== 'switch' && e.seq <= (v?.seq as number));
    const lastWrite = events.findLast((e) => e.type === 'cpu-access')?.seq as number;
    const clears = events.filter((e) => e.type === 'pte' && e.why === 'munmap').map((e) => e.seq);
    const expected = events.filter((e) => e.seq >= lastWrite && !clears.slice(1, 3).includes(e.seq)).map((e) => e.seq);
    expect(v?.trace.map((e) => e.seq).slice(-expected.length)).toEqual(expected);
  });
});

describe('a retry loop that collides with itself', () => {
  const oneRead: Scenario = { regions: [anon(1)], tasks: [{ kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] }] };

  it('should report a livelock when every pass of the loop zaps its own page, long before the loop times out', async () => {
    const r = await sequential({ selfInvalidate: 'always' }, oneRead);
    const v = r.violations[0];
    expect(v?.rule).toBe('livelock');
    expect(v?.explanation).toMatch(
      new RegExp(
        `failed ${SELF_RETRY_LIMIT} times in a row, each time because the sequence was moved by an invalidation this task started itself \\(#\\d+, MMU_NOTIFY_CLEAR \\[`,
      ),
    );
    expect(v?.task).toMatch(/^device/);
    // Found at the limit, not at HMM_RANGE_DEFAULT_TIMEOUT's warning (10,000 ticks).
    expect(v?.step).toBeLessThan(HMM_RANGE_DEFAULT_TIMEOUT / 2);
  });

  it('should pass a loop that collides with itself once and then maps the page', async () => {
    const r = await sequential({ selfInvalidate: 'once' }, oneRead);
    expect(r.violations).toEqual([]);
    expect(r.result.outcomes.map((o) => [o.status, o.ret])).toEqual([['ok', 0]]);
  });

  it('should pass a loop that collides with another task every time (not its own doing)', async () => {
    // The zaps come from the CPU program; the device's loop is not the one moving its sequence.
    const s: Scenario = {
      regions: [anon(1)],
      tasks: [
        { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] },
        {
          kind: 'cpu',
          ops: Array.from({ length: 40 }, () => ({ op: 'madvise' as const, region: 0, page: 0, pages: 1, advice: 'dontneed' as const })),
        },
      ],
    };
    for (const seed of [1, 2, 3, 4]) {
      const r = await checkScenario(knobDriver({}), s, { decisions: seededDecisions(seed) });
      expect(r.violations.map((x) => x.rule)).not.toContain('livelock');
    }
  });
});
