/**
 * The lifecycle bugs of the zoo written another way, by drivers nobody wrote for the zoo, and a
 * fault handler that outlives the teardown: a default campaign must find each, and the same
 * mirror without the bug must pass the same campaign.
 */
import type { RuleId } from '@hmmlab/assertions';
import { type MmuIntervalNotifier, type MmuNotifierRange, mmuIntervalSetSeq, ULONG_MAX } from '@hmmlab/core';
import { runCampaign } from '@hmmlab/fuzz';
import type { DriverDefinition } from '@hmmlab/harness';
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
