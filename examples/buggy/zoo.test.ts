/**
 * The bug zoo, one fixed scenario per case: the oracle must report one of the case's expected
 * rules at the step where the contract breaks (with the invalidation, device and page the bug
 * involves), and the fixed driver must keep the contract on the same scenario and schedule.
 */
import { readFileSync } from 'node:fs';
import { type CheckedRun, checkScenario, type RuleId, type Violation } from '@hmmlab/assertions';
import '@hmmlab/assertions/vitest';
import { type DecisionSource, firstRunnable, type KernelProfile, seededDecisions, type TaskKind, type TraceEvent } from '@hmmlab/core';
import { type DriverDefinition, loadDriver, type Observer, type OpSpec, type RegionSpec, type Scenario, type World } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import dmirrorFixed from '../dmirror-fixed/driver.js';
import a2Fixed from './a2-owner-without-event/fixed.js';
import { twoGpus } from './b7-foreign-private-page/driver.js';
import n1 from './controls/n1-own-migrate-revoked/driver.js';
import n2 from './controls/n2-own-exclusive-skip/driver.js';
import n3 from './controls/n3-nothing-mapped/driver.js';
import n5 from './controls/n5-release-notifier/driver.js';
import n7 from './controls/n7-quiesce-restore/driver.js';
import n8 from './controls/n8-inline-under-block-lock/driver.js';
import { CountingSecondaryMmu } from './e2-unpaired-range-end/driver.js';
import l1Fixed from './l1-closed-vm-early-return/fixed.js';
import l2Fixed from './l2-pt-freed-before-remove/fixed.js';
import { svmDriver } from './lib/svm-driver.js';
import { SvmMirror } from './lib/svm-mirror.js';
import { ReleaseNothingToDo } from './s16-release-nothing-to-do/driver.js';
import s21Fixed from './s21-flush-first-granule/fixed.js';
import s22Fixed from './s22-leaf-only-flush/fixed.js';
import { type BusyRange, BusyWhileMigrating } from './s25-busy-after-failed-migration/driver.js';

const region = (pages = 1): RegionSpec => ({ pages, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' });
const dev = (...ops: OpSpec[]) => ({ kind: 'device' as const, ops });
const cpu = (...ops: OpSpec[]) => ({ kind: 'cpu' as const, ops });
const drv = (...ops: OpSpec[]) => ({ kind: 'driver' as const, ops });
const kern = (...ops: OpSpec[]) => ({ kind: 'kernel' as const, ops });
const at = { region: 0, page: 0 };
const page0 = { region: 0, page: 0, pages: 1 };

/** The correct kit driver the synthetic cases were made from. */
const svm = svmDriver({ name: 'svm', description: 'the correct SVM mirror of lib/' });

/** Runs the driver task first, then the others round robin (H2: threads fault on a page already migrated). */
function driverFirst(): DecisionSource {
  let rr = 0;
  return {
    pick(c) {
      const d = c.findIndex((t) => t.kind === 'driver');
      return d >= 0 ? d : rr++ % c.length;
    },
  };
}

/**
 * A device atomic takes the page exclusively, then the CPU writes it, on a core that passes the
 * device's owner when it revokes the entry (S15; the restore event is EXCLUSIVE on 6.1).
 */
function atomicThenCpuWrite(profile: 'latest' | '6.1'): Scenario {
  return {
    profile,
    profileOverrides: { exclusiveRestoreOwner: 'caller' },
    regions: [region()],
    tasks: [dev({ op: 'dev-atomic', ...at }), cpu({ op: 'write', ...at, value: 5 })],
  };
}

/** The report of an atomic translation kept across the revocation (`event`, with the device's own owner). */
function keptAtomicAcross(event: string): (v: Violation) => void {
  return (v) => {
    expect(v.invalidation?.event).toBe(event);
    expect(v.invalidation?.ownOwner).toBe(true);
    expect(v.translations[0]?.entry).toMatch(/atomic/);
  };
}

/** A schedule that favours one kind of task per phase; a phase ends at the first trace event `until` accepts. */
function phased(phases: readonly { prefer: TaskKind; until: (e: TraceEvent) => boolean }[]): DecisionSource & Observer {
  let phase = 0;
  return {
    attach(world: World) {
      world.kernel.trace.subscribe((e) => {
        if (phase < phases.length && (phases[phase] as (typeof phases)[number]).until(e)) phase++;
      });
    },
    pick(c) {
      const want = phases[phase]?.prefer;
      return Math.max(
        0,
        c.findIndex((t) => t.kind === want),
      );
    },
  };
}

interface Case {
  readonly dir: string;
  readonly scenario: Scenario;
  /** The schedule: a decision source, which may also watch the trace. */
  readonly decisions: () => DecisionSource | (DecisionSource & Observer);
  readonly rule: RuleId;
  /** What else the report must say. */
  readonly check: (v: Violation, r: CheckedRun) => void;
  /** The fixed driver. */
  readonly fixed: DriverDefinition;
  /** The scenario the fixed driver runs, when the fix was the kernel's (default: the same). */
  readonly fixedScenario?: (s: Scenario) => Scenario;
}

/** E2 fixed: the secondary TLB is flushed without sleeping, so the start never fails (KVM). */
class FlushesAnyway extends CountingSecondaryMmu {
  override cannotFlushNow(): boolean {
    return false;
  }
}

/** S25 fixed: the mark is cleared whatever the migration returned. */
class UnmarksOnEveryPath extends BusyWhileMigrating {
  override moved(mark: BusyRange, r: number): number {
    this.unmark(mark);
    return r;
  }
}

/** S16 fixed: the release stops the device. */
class ReleaseStopsDevice extends ReleaseNothingToDo {
  override teardown(): Promise<void> {
    return this.destroyQueues();
  }
}

const CASES: Case[] = [
  {
    dir: 'a1-dmirror-migrate-to-device',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-write', ...at, value: 7 }), drv({ op: 'migrate-to-device', ...page0 })] },
    decisions: () => firstRunnable,
    rule: 'own-migration-unrevoked',
    check: (v) => {
      expect(v.device).toBe('hmm_dmirror0');
      expect(v.page?.kind).toBe('system');
      expect(v.translations[0]?.entry).toMatch(/ rw$/);
    },
    fixed: dmirrorFixed,
  },
  {
    dir: 'a2-owner-without-event',
    // A device read faults the page in while the driver migrates it to device memory: the
    // migration carries the owner the driver's exclusive conversions carry, and the callback
    // returns without set_seq, so the fault commits a page the migration has taken.
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-read', ...at }), drv({ op: 'migrate-to-device', ...page0 })] },
    decisions: () => seededDecisions(24),
    rule: 'stale-install',
    check: (v) => {
      expect(v.task).toMatch(/^device/);
      // The page the device programs is under migration: the CPU entry is a migration entry.
      expect(v.explanation).toMatch(/CPU entry is migration\(pfn/);
    },
    // The event checked with the owner (nouveau): own EXCLUSIVE skipped, own MIGRATE invalidated.
    fixed: a2Fixed,
  },
  {
    dir: 'a4-own-migrate-skip-cpu-fault',
    scenario: {
      regions: [region()],
      tasks: [drv({ op: 'migrate-to-device', ...page0 }), dev({ op: 'dev-write', ...at, value: 3 }), cpu({ op: 'read', ...at })],
    },
    decisions: () => firstRunnable,
    rule: 'own-migration-unrevoked',
    check: (v) => {
      expect(v.page?.kind).toBe('device-private');
      expect(v.device).toBe('gpu0');
      expect(v.task).toMatch(/^cpu/);
    },
    fixed: n1,
  },
  {
    dir: 'b7-foreign-private-page',
    scenario: {
      profileOverrides: { hmmChecksPrivateOwner: false },
      regions: [region()],
      tasks: [drv({ op: 'migrate-to-device', ...page0 }), dev({ op: 'dev-read', ...at, device: 0 })],
    },
    decisions: () => firstRunnable,
    rule: 'stale-install',
    check: (v) => {
      // gpu0 maps gpu1's device-private page.
      expect(v.device).toBe('gpu0');
      expect(v.page?.kind).toBe('device-private');
      expect(v.explanation).toMatch(/device-private\(pfn/);
    },
    // The fix was the kernel's (08ddddda667b) with nouveau's `.dev_private_owner`: on a kernel
    // that checks the owner, the page is faulted back to system memory first.
    fixed: twoGpus('b7-fixed', SvmMirror),
    fixedScenario: (s) => ({ regions: s.regions, tasks: s.tasks }),
  },
  {
    dir: 'c1-validity-unlocked',
    scenario: {
      regions: [region()],
      tasks: [
        dev({ op: 'dev-read', ...at }, { op: 'dev-read', ...at }),
        cpu({ op: 'mprotect', ...page0, prot: 'r' }, { op: 'madvise', ...page0, advice: 'dontneed' }),
      ],
    },
    decisions: () => seededDecisions(12),
    rule: 'stale-install',
    check: (v) => {
      expect(v.device).toBe('gpu0');
      expect(v.task).toMatch(/^kworker\/gpu0 restore/);
    },
    fixed: n7,
  },
  {
    dir: 'c2-pages-before-retry',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-read', ...at }), cpu({ op: 'madvise', ...page0, advice: 'dontneed' })] },
    decisions: () => seededDecisions(17),
    rule: 'freed-page-mapped',
    check: (v) => {
      expect(v.translations[0]?.source).toBe('dma');
      expect(v.page?.kind).toBe('system');
    },
    fixed: n3,
  },
  {
    dir: 'd1-mmget-not-zero',
    scenario: {
      regions: [region()],
      tasks: [dev({ op: 'dev-write', ...at, value: 1 }, { op: 'dev-read', ...at }), kern({ op: 'compact', ...at }), cpu({ op: 'exit' })],
    },
    // The device maps the page; the process exits until mm_users is 0; compaction migrates the page.
    decisions: () =>
      phased([
        { prefer: 'device', until: (e) => e.type === 'dev-access' },
        { prefer: 'cpu', until: (e) => e.type === 'vma' && e.op === 'exit' },
        { prefer: 'kernel', until: (e) => e.type === 'inv-end' },
      ]),
    rule: 'missed-flush',
    check: (v) => {
      // Compaction's migration of the page, between the last mmput and the release notifier.
      expect(v.invalidation?.event).toBe('MMU_NOTIFY_CLEAR');
      expect(v.callbacks[0]?.setSeq).toBe(false);
    },
    fixed: n5,
  },
  {
    dir: 'd2-queues-after-mm-release',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-write', ...at, value: 3 }), cpu({ op: 'exit' })] },
    // The device maps the page; the process exits: the release notifier leaves the queues to the
    // release work, and exit_mmap's UNMAP clears the CPU entry before that work runs.
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: (v, r) => {
      expect(v.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
      // The callback moved the sequence and cleared nothing: svm_range_unmap_from_cpu found no process.
      expect(v.callbacks[0]?.setSeq).toBe(true);
      expect(v.callbacks[0]?.cleared).toEqual([]);
      expect(r.violations.map((x) => x.rule)).toContain('freed-page-mapped');
    },
    fixed: n5,
  },
  {
    dir: 'e1-nonblocking-lock-leak',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-read', ...at }), kern({ op: 'oom-reap' })] },
    decisions: () => firstRunnable,
    rule: 'lock-leak',
    check: (v, r) => {
      expect(v.context).toMatch(/interval notifier/);
      expect(v.explanation).toMatch(/gpu0 svm lock/);
      expect(r.violations.some((x) => x.rule === 'missed-flush')).toBe(false);
    },
    fixed: n3,
  },
  {
    dir: 'e2-unpaired-range-end',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-read', ...at }), kern({ op: 'oom-reap' })] },
    decisions: () => firstRunnable,
    rule: 'start-failed-with-end',
    check: (v) => expect(v.explanation).toMatch(/gpu0 kvm/),
    fixed: svmDriver({ name: 'e2-fixed', description: 'KVM flushes without sleeping', memoryPages: 0, mirror: FlushesAnyway }),
  },
  {
    dir: 'g2-exclusive-folio-leak',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-atomic', ...at }), cpu({ op: 'read', ...at })] },
    decisions: () => firstRunnable,
    rule: 'lock-leak',
    check: (v, r) => {
      expect(v.context).toMatch(/gpu0 fault handler/);
      expect(r.violations.map((x) => x.rule)).toContain('deadlock');
    },
    fixed: n2,
  },
  {
    dir: 'h2-lock-in-migrate-to-ram',
    scenario: {
      profile: '6.1',
      regions: [region()],
      tasks: [drv({ op: 'migrate-to-device', ...page0 }), ...[1, 2, 3, 4].map(() => cpu({ op: 'read', ...at }))],
    },
    decisions: driverFirst,
    rule: 'livelock',
    check: (_v, r) => expect(r.run.status).toBe('step-limit'),
    fixed: n8,
  },
  {
    dir: 'l1-closed-vm-early-return',
    scenario: {
      regions: [region()],
      tasks: [
        dev({ op: 'dev-write', ...at, value: 7 }, { op: 'dev-read', ...at }),
        drv({ op: 'unbind' }),
        cpu({ op: 'mprotect', ...page0, prot: 'r' }),
      ],
    },
    decisions: () => seededDecisions(83),
    rule: 'missed-flush',
    check: (v) => {
      expect(v.invalidation?.event).toBe('MMU_NOTIFY_PROTECTION_VMA');
      expect(v.callbacks[0]).toMatchObject({ result: 'true', setSeq: false, cleared: [] });
    },
    fixed: l1Fixed,
  },
  {
    dir: 'l2-pt-freed-before-remove',
    scenario: {
      regions: [region()],
      tasks: [dev({ op: 'dev-write', ...at, value: 7 }), drv({ op: 'unbind' }), cpu({ op: 'munmap', ...page0 })],
    },
    decisions: () => seededDecisions(1),
    rule: 'vm-use-after-free',
    check: (v) => {
      expect(v.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
      expect(v.explanation).toMatch(/(dirtyWritable|clearRange) .* on a device address space freed at step \d+ \(page table freed\)/);
    },
    fixed: l2Fixed,
  },
  {
    dir: 's1-owner-any-event',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-write', ...at, value: 2 }), cpu({ op: 'munmap', ...page0 })] },
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: (v) => {
      expect(v.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
      expect(v.invalidation?.owner).toBe('none');
    },
    fixed: n1,
  },
  {
    dir: 's2-migrate-copy-unrevoked',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-write', ...at, value: 2 }), drv({ op: 'migrate-to-device', ...page0 })] },
    decisions: () => firstRunnable,
    rule: 'own-migration-unrevoked',
    check: (v) => {
      expect(v.page?.kind).toBe('system');
      expect(v.translations[0]?.entry).toMatch(/ rw$/);
    },
    fixed: n1,
  },
  {
    dir: 's3-early-return-before-set-seq',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-read', ...at }), cpu({ op: 'madvise', ...page0, advice: 'dontneed' })] },
    decisions: () => seededDecisions(2),
    rule: 'stale-install',
    check: (v) => expect(v.explanation).toMatch(/after invalidation #\d+ \(MMU_NOTIFY_CLEAR\)/),
    fixed: svm,
  },
  {
    dir: 's5-nonblockable-true',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-read', ...at }), kern({ op: 'oom-reap' })] },
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: (v) => {
      expect(v.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
      expect(v.invalidation?.blockable).toBe(false);
    },
    fixed: svm,
  },
  {
    dir: 's7-flush-not-waited',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-read', ...at }), cpu({ op: 'munmap', ...page0 })] },
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: (v) => {
      expect(v.translations[0]?.source).toBe('tlb');
      expect(v.callbacks[0]?.cleared.length).toBeGreaterThan(0);
    },
    fixed: svm,
  },
  {
    dir: 's11-deferred-invalidation',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-read', ...at }), cpu({ op: 'munmap', ...page0 })] },
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: (v) => {
      expect(v.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
      expect(v.callbacks[0]?.cleared).toEqual([]);
    },
    fixed: svm,
  },
  {
    dir: 's13-protection-noop',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-write', ...at, value: 2 }), cpu({ op: 'mprotect', ...page0, prot: 'r' })] },
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: (v) => {
      expect(v.invalidation?.event).toBe('MMU_NOTIFY_PROTECTION_VMA');
      expect(v.translations[0]?.entry).toMatch(/ rw$/);
    },
    fixed: svm,
  },
  {
    dir: 's15-exclusive-restore-owner',
    scenario: atomicThenCpuWrite('6.1'),
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: keptAtomicAcross('MMU_NOTIFY_EXCLUSIVE'),
    fixed: svmDriver({
      name: 's15-fixed',
      description: 'skips its own EXCLUSIVE only while converting',
      memoryPages: 0,
      atomics: 'exclusive',
      policy: { skipOwnExclusive: 'while-converting' },
    }),
  },
  {
    dir: 's16-release-nothing-to-do',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-write', ...at, value: 2 }), cpu({ op: 'exit' })] },
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: (v, r) => {
      expect(v.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
      expect(v.callbacks.every((c) => c.op === 'invalidate')).toBe(true);
      expect(r.violations.map((x) => x.rule)).toContain('freed-page-mapped');
    },
    fixed: svmDriver({ name: 's16-fixed', description: 'release stops the device', mirror: ReleaseStopsDevice }),
  },
  {
    dir: 's17-retry-then-unlock',
    scenario: { regions: [region()], tasks: [dev({ op: 'dev-read', ...at }), cpu({ op: 'madvise', ...page0, advice: 'dontneed' })] },
    decisions: () => seededDecisions(23),
    rule: 'stale-install',
    check: (v) => expect(v.task).toMatch(/^device/),
    fixed: svm,
  },
  {
    dir: 's21-flush-first-granule',
    // 20 pages below a 64 KiB boundary: pages 0-3 in one granule, 4-19 in the next; the device
    // writes the last page, then the region is unmapped.
    scenario: {
      regions: [region(20)],
      tasks: [dev({ op: 'dev-write', region: 0, page: 19, value: 3 }), cpu({ op: 'munmap', region: 0, page: 0, pages: 20 })],
    },
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: (v) => {
      expect(v.translations[0]?.source).toBe('tlb');
      expect(v.explanation).toMatch(/in the 64 KiB granule \[0x7effffff0000, 0x7f0000000000\) it caches as one entry/);
      expect(v.explanation).toMatch(/issued no TLB flush covering it/);
    },
    fixed: s21Fixed,
  },
  {
    dir: 's22-leaf-only-flush',
    // 16 pages: one whole 64 KiB table, which the unmap frees.
    scenario: {
      regions: [region(16)],
      tasks: [dev({ op: 'dev-read', region: 0, page: 3 }), cpu({ op: 'munmap', region: 0, page: 0, pages: 16 })],
    },
    decisions: () => firstRunnable,
    rule: 'missed-flush',
    check: (v) => {
      expect(v.translations[0]?.source).toBe('walk');
      expect(v.explanation).toMatch(/page-walk cache still holds the freed page-table page \[0x7effffff0000, 0x7f0000000000\)/);
      expect(v.explanation).toMatch(/was leaf-only/);
    },
    fixed: s22Fixed,
  },
  {
    dir: 's25-busy-after-failed-migration',
    // Page 1 unmapped; the migration of pages 0-2 moves page 0, fails at the hole and leaves the
    // three marked busy; a device read of page 2 fails, and fails again once the programs are done.
    scenario: {
      exitAtEnd: true,
      regions: [region(3)],
      tasks: [
        cpu({ op: 'munmap', region: 0, page: 1, pages: 1 }),
        drv({ op: 'migrate-to-device', region: 0, page: 0, pages: 3 }),
        dev({ op: 'dev-read', region: 0, page: 2 }),
      ],
    },
    decisions: () => firstRunnable,
    rule: 'fault-stuck',
    check: (v, r) => {
      expect(r.result.outcomes.find((o) => o.op === 'migrate-to-device')?.ret).toBeLessThan(0);
      expect(v.explanation).toMatch(
        /^gpu0 vm \d+: a device read at 0x[0-9a-f]+ failed with -EAGAIN at step \d+; .* failed it again with -EAGAIN/,
      );
      expect(v.task).toMatch(/^device retry at rest/);
    },
    fixed: svmDriver({ name: 's25-fixed', description: 'the mark cleared on every path', mirror: UnmarksOnEveryPath }),
  },
];

/** Where a case folder is. */
const here = (dir: string) => new URL(`./${dir}/`, import.meta.url).pathname;

function expectedOf(dir: string): { rules: RuleId[]; fuzz?: { shape?: { profileOverrides?: Partial<KernelProfile> } } } {
  return JSON.parse(readFileSync(`${here(dir)}expected.json`, 'utf8')) as { rules: RuleId[] };
}

/** The run options of a case's schedule. */
function run(c: Case): { decisions: DecisionSource; observers: Observer[] } {
  const d = c.decisions();
  return { decisions: d, observers: 'attach' in d ? [d] : [] };
}

describe('the bug zoo', () => {
  it.each(CASES.map((c) => [c.dir, c] as const))('should catch %s with an expected rule', async (dir, c) => {
    const expected = expectedOf(dir);
    expect(expected.rules).toContain(c.rule);
    // The scenario runs the kernel what-if the campaign runs (expected.json's fuzz shape).
    expect(c.scenario.profileOverrides).toEqual(expected.fuzz?.shape?.profileOverrides);
    const driver = await loadDriver(here(dir));
    const r = await checkScenario(driver, c.scenario, run(c));
    expect(r).toViolate(c.rule);
    const v = r.violations.find((x) => x.rule === c.rule) as Violation;
    expect(r.violations[0]?.rule, 'the first report is an expected rule').toSatisfy((x: RuleId) => expected.rules.includes(x));
    c.check(v, r);
  });

  it.each(CASES.map((c) => [c.dir, c] as const))('should pass the same scenario of %s with the fixed driver', async (_dir, c) => {
    const r = await checkScenario(c.fixed, c.fixedScenario?.(c.scenario) ?? c.scenario, run(c));
    expect(r).toKeepFlushContract();
    expect(r.run.status).toBe('done');
  });
});
