/**
 * The lifecycle bugs of the zoo written another way, by drivers nobody wrote for the zoo, and a
 * fault handler that outlives the teardown: a default campaign must find each, and the same
 * mirror without the bug must pass the same campaign.
 */
import type { RuleId } from '@hmmlab/assertions';
import {
  EAGAIN,
  EBUSY,
  type Mm,
  type MmuIntervalNotifier,
  MmuNotifier,
  type MmuNotifierOps,
  type MmuNotifierRange,
  mmuIntervalNotifierRemove,
  mmuIntervalSetSeq,
  mmuNotifierGet,
  mmuNotifierPut,
  mmuNotifierUnregister,
  ULONG_MAX,
} from '@hmmlab/core';
import { runCampaign } from '@hmmlab/fuzz';
import type { DeviceFault, DriverDefinition } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { svmDriver } from './lib/svm-driver.js';
import { SvmMirror } from './lib/svm-mirror.js';

/** L1 another way: a state word, checked after `set_seq`; unbind migrates everything back before the zap. */
class DyingAfterSetSeq extends SvmMirror {
  state: 'live' | 'dying' = 'live';

  override async unbind(): Promise<void> {
    this.state = 'dying';
    await this.migrateToRam(0, ULONG_MAX - (ULONG_MAX % this.kernel.pageSize));
    await super.unbind();
  }

  override async invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    if (!(await this.lockFor(range))) return false;
    mmuIntervalSetSeq(mni, curSeq);
    if (this.state === 'live') this.invalidateLocked(range);
    this.lock.unlock();
    return true;
  }
}

/** L2 another way: unbind revokes everything but never removes its notifier, so callbacks outlive the page table. */
class NeverRemoved extends SvmMirror {
  override async unbind(): Promise<void> {
    await this.stopFaults();
    await this.evict();
    await this.lock.lock();
    this.revoke(0, ULONG_MAX);
    this.lock.unlock();
  }
}

/**
 * A fault handler outliving the teardown: unbind never stops the device's faults, so a fault that
 * began before it runs on into a removed notifier and a freed page table (the file's close does
 * not wait for a device's faults; the driver must).
 */
class FaultsNotStopped extends SvmMirror {
  override async stopFaults(): Promise<void> {}
}

/** Unbind starts the removal of its notifier without waiting for it, then frees the page table. */
class RemovalNotAwaited extends SvmMirror {
  override async unbind(): Promise<void> {
    await this.stopFaults();
    await this.evict();
    await this.lock.lock();
    this.revoke(0, ULONG_MAX);
    this.lock.unlock();
    void mmuIntervalNotifierRemove(this.notifier);
    this.vm.destroy('free right after starting the removal');
  }
}

/**
 * A second, classic notifier revokes too (taken with `mmu_notifier_get`); unbind drops it with
 * `mmu_notifier_put`, which does not wait for its callbacks in flight (the free is the
 * `free_notifier` op's, after SRCU), and frees the page table at once (mm/mmu_notifier.c).
 */
class ClassicPutThenFree extends SvmMirror {
  svmm: MmuNotifier | null = null;
  readonly ops: MmuNotifierOps = {
    allocNotifier: (_mm: Mm) => new MmuNotifier(this.ops, `${this.device.name} svmm`),
    invalidateRangeStart: async (_sub: MmuNotifier, range: MmuNotifierRange) => {
      if (!(await this.lockFor(range))) return -EAGAIN;
      this.vm.clearRange(range.start, range.end);
      this.vm.flushTlb(range.start, range.end);
      this.lock.unlock();
      return 0;
    },
    release: () => this.destroyQueues(),
  };

  override async open(): Promise<void> {
    await super.open();
    this.svmm = await mmuNotifierGet(this.ops, this.mm);
  }

  override async unbind(): Promise<void> {
    await this.stopFaults();
    await this.evict();
    await this.lock.lock();
    this.vm.clearRange(0, ULONG_MAX);
    this.vm.flushTlb(0, ULONG_MAX);
    this.lock.unlock();
    await mmuIntervalNotifierRemove(this.notifier);
    await this.dropClassic();
    this.vm.destroy('free right after dropping the classic notifier');
  }

  async dropClassic(): Promise<void> {
    mmuNotifierPut(this.svmm as MmuNotifier);
  }
}

/** The same, unregistering the classic notifier: `synchronize_srcu` waits for its callbacks in flight. */
class ClassicUnregisterThenFree extends ClassicPutThenFree {
  override async dropClassic(): Promise<void> {
    await mmuNotifierUnregister(this.svmm as MmuNotifier, this.mm);
  }
}

/**
 * S25 another way: a classic notifier beside the interval one counts the invalidations in
 * progress (as KVM's `mmu_invalidate_in_progress`), and the fault path answers "try again" while
 * the count is raised. Its end returns early when the device maps nothing in the range, before it
 * lowers the count: after one such invalidation every device fault fails.
 */
class CountLeftRaised extends SvmMirror {
  inProgress = 0;
  readonly counter = new MmuNotifier(
    {
      invalidateRangeStart: () => {
        this.inProgress++;
        return 0;
      },
      invalidateRangeEnd: (_sub: MmuNotifier, range: MmuNotifierRange) => this.rangeEnd(range),
    },
    `${this.device.name} in-progress count`,
  );

  override classicNotifiers(): readonly MmuNotifier[] {
    return [this.counter];
  }

  override fault(f: DeviceFault): Promise<number> {
    return this.inProgress > 0 ? Promise.resolve(-EBUSY) : super.fault(f);
  }

  rangeEnd(range: MmuNotifierRange): void {
    let mapped = false;
    for (const vpn of this.vm.pt.keys()) mapped ||= vpn * this.kernel.pageSize >= range.start && vpn * this.kernel.pageSize < range.end;
    if (!mapped) return;
    this.inProgress--;
  }
}

/** The same count, lowered by every end. */
class CountLowered extends CountLeftRaised {
  override rangeEnd(): void {
    this.inProgress--;
  }
}

const variants: [string, DriverDefinition, readonly RuleId[]][] = [
  [
    'a state word checked after set_seq',
    svmDriver({ name: 'dying-after-set-seq', description: 'L1 another way', mirror: DyingAfterSetSeq }),
    ['missed-flush', 'stale-read', 'lost-write', 'freed-page-mapped'],
  ],
  [
    'a notifier never removed',
    svmDriver({ name: 'never-removed', description: 'L2 another way', mirror: NeverRemoved }),
    ['vm-use-after-free', 'leak-at-exit'],
  ],
  [
    'a fault in flight left running through unbind',
    svmDriver({ name: 'faults-not-stopped', description: 'a fault handler outliving the teardown', mirror: FaultsNotStopped }),
    ['callback-threw', 'vm-use-after-free'],
  ],
];

describe('lifecycle bugs written another way', () => {
  it.each(variants)('should find %s with a default campaign', async (_name, driver, rules) => {
    const r = await runCampaign(driver, { runs: 2000, seed: 1, shrink: false });
    expect(r.failure?.violation.rule).toSatisfy((x: RuleId | undefined) => x !== undefined && rules.includes(x));
  });

  it("should end the run at the removal left unawaited, blaming unbind's task, not at the callback that then finds the page table freed", async () => {
    const driver = svmDriver({ name: 'removal-not-awaited', description: 'the removal not waited for', mirror: RemovalNotAwaited });
    const r = await runCampaign(driver, { runs: 2000, seed: 1, shrink: false });
    expect(r.failure?.violation.rule).toBe('callback-threw');
    expect(r.failure?.violation.explanation).toMatch(
      /^task driver\d#\d+ threw at step \d+: the code of task driver\d#\d+ went on after it blocked on mm \d+ notifier seq, and reached DeviceVm\.destroy/,
    );
  });

  it('should tell a classic callback reaching the page table after mmu_notifier_put to unregister first, and pass the unregistering twin', async () => {
    const put = svmDriver({ name: 'classic-put-then-free', description: 'put, then free', mirror: ClassicPutThenFree });
    const found = await runCampaign(put, { runs: 3000, seed: 1, shrink: false });
    expect(found.failure?.violation.rule).toBe('vm-use-after-free');
    expect(found.failure?.violation.explanation).toMatch(/the notifier must be unregistered first \(mmu_notifier_unregister waits/);
    const unregister = svmDriver({
      name: 'classic-unregister-then-free',
      description: 'unregister, then free',
      mirror: ClassicUnregisterThenFree,
    });
    const fixed = await runCampaign(unregister, { runs: 3000, seed: 1, shrink: false });
    expect(fixed.failure?.violation.explanation ?? 'pass').toBe('pass');
    expect(fixed.runs).toBe(3000);
  });

  it('should find a count that an end left raised as fault-stuck, and pass the count every end lowers', async () => {
    const raised = svmDriver({
      name: 'count-left-raised',
      description: 'an end that returns before lowering the count',
      mirror: CountLeftRaised,
    });
    const found = await runCampaign(raised, { runs: 2000, seed: 1, shrink: false });
    expect(found.failure?.violation.rule).toBe('fault-stuck');
    expect(found.failure?.violation.explanation).toMatch(/failed it again with -EBUSY/);
    const lowered = svmDriver({ name: 'count-lowered', description: 'every end lowers the count', mirror: CountLowered });
    const fixed = await runCampaign(lowered, { runs: 2000, seed: 1, shrink: false });
    expect(fixed.failure?.violation.explanation ?? 'pass').toBe('pass');
    expect(fixed.runs).toBe(2000);
  });

  it('should pass the same campaign with the mirror they were written from', async () => {
    const r = await runCampaign(svmDriver({ name: 'svm', description: 'the correct SVM mirror of lib/' }), {
      runs: 2000,
      seed: 1,
      shrink: false,
    });
    expect(r.failure?.violation.explanation ?? 'pass').toBe('pass');
    expect(r.runs).toBe(2000);
  });
});
