/**
 * A non-blockable callback's trylock can fail: the OOM reaper's invalidation
 * (mm/oom_kill.c `__oom_reap_task_mm` → `mmu_notifier_invalidate_range_start_nonblock`) meets the
 * driver lock held by a device fault on another CPU. A driver that answers `true` without its work
 * when the trylock fails is caught; the lib/ mirror, which answers `false` (the reaper then skips
 * the VMA), passes the same runs.
 */
import { checkScenario } from '@hmmlab/assertions';
import {
  type MmuIntervalNotifier,
  type MmuNotifierRange,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  seededDecisions,
} from '@hmmlab/core';
import type { DriverDefinition, Observer, Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { svmDriver } from './lib/svm-driver.js';
import { SvmMirror } from './lib/svm-mirror.js';

class IgnoreTrylockFailure extends SvmMirror {
  override async invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    if (this.skipsExclusive(range)) return true;
    if (mmuNotifierRangeBlockable(range)) await this.lock.lock();
    // The bug: a failed trylock claims the work done.
    else if (!this.lock.tryLock()) return true;
    mmuIntervalSetSeq(mni, curSeq);
    this.invalidateLocked(range);
    this.lock.unlock();
    return true;
  }
}

const buggy = svmDriver({ name: 'ignore-trylock-failure', description: 'true from a failed trylock', mirror: IgnoreTrylockFailure });
const fixed = svmDriver({ name: 'svm', description: 'the correct SVM mirror of lib/' });

// The device faults the page in (taking the driver lock) and stays live; the OOM reaper runs meanwhile.
const at = { region: 0, page: 0 };
const scenario: Scenario = {
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    {
      kind: 'device',
      ops: [
        { op: 'dev-read', ...at },
        { op: 'dev-read', ...at },
        { op: 'dev-read', ...at },
      ],
    },
    { kind: 'kernel', ops: [{ op: 'oom-reap' }] },
  ],
};

const SEEDS = Array.from({ length: 16 }, (_, i) => i + 1);

/** Per seed: the rules reported, and whether the reaper's trylock of the driver lock failed. */
async function outcomes(driver: DriverDefinition): Promise<{ rules: string[]; trylockFailed: boolean }[]> {
  const out: { rules: string[]; trylockFailed: boolean }[] = [];
  for (const seed of SEEDS) {
    let trylockFailed = false;
    const watch: Observer = {
      attach(world) {
        world.kernel.trace.subscribe((e) => {
          if (e.type === 'lock' && e.op === 'trylock-fail' && e.lock === 'gpu0 svm lock') trylockFailed = true;
        });
      },
    };
    const r = await checkScenario(driver, scenario, { decisions: seededDecisions(seed), observers: [watch] });
    expect(r.run.status, r.run.message).toBe('done');
    out.push({ rules: [...new Set(r.violations.map((v) => v.rule))], trylockFailed });
  }
  return out;
}

describe('a trylock in a non-blockable callback', () => {
  it('should fail on some schedules, and a driver that answers true then is caught', async () => {
    const o = await outcomes(buggy);
    const failed = o.filter((x) => x.trylockFailed);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThan(SEEDS.length);
    for (const x of failed) expect(x.rules).toContain('missed-flush');
    for (const x of o.filter((y) => !y.trylockFailed)) expect(x.rules).toEqual([]);
  });

  it('should pass the same schedules with the driver that answers false', async () => {
    const o = await outcomes(fixed);
    expect(o.some((x) => x.trylockFailed)).toBe(true);
    for (const x of o) expect(x.rules).toEqual([]);
  });
});
