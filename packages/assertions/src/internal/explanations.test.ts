import {
  EFAULT,
  firstRunnable,
  handleMmFault,
  hex,
  type Kernel,
  type Mm,
  MmuNotifier,
  mmuNotifierRegister,
  ptePfn,
  seededDecisions,
  VM_FAULT_SIGSEGV,
} from '@hmmlab/core';
import { Device, defineDriver, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../vitest.js';
import { checkScenario } from './check.js';
import type { OracleContext, ViolationInput } from './context.js';
import { checkKernelFact } from './rules/kernel-facts.js';
import type { RuleId } from './rules.js';
import { type Knobs, knobDriver } from './test-driver.js';

const anon = { pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' } as const;

/** The device writes both pages, then `then` runs over both. */
const writeThen = (then: Scenario['tasks'][number]): Scenario => ({
  regions: [anon],
  tasks: [
    {
      kind: 'device',
      ops: [
        { op: 'dev-write', region: 0, page: 0, value: 6 },
        { op: 'dev-write', region: 0, page: 1, value: 7 },
      ],
    },
    then,
  ],
});
const migrateBoth = writeThen({ kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 2 }] });
const unmapBoth = writeThen({ kind: 'cpu', ops: [{ op: 'munmap', region: 0, page: 0, pages: 2 }] });

async function first(knobs: Knobs, scenario: Scenario, rule: RuleId) {
  const r = await checkScenario(knobDriver(knobs), scenario, { decisions: firstRunnable, rules: [rule] });
  return { r, v: r.violations.find((x) => x.rule === rule) };
}

describe('own-migration-unrevoked explanation', () => {
  it('should say the callback cleared and flushed nothing when it skipped its own migration', async () => {
    const { v } = await first({ ownerSkip: 'checked', revokeBeforeCopy: false }, migrateBoth, 'own-migration-unrevoked');
    expect(v?.explanation).toContain(
      'callback "knob" returned true without mmu_interval_set_seq, clearing no device entry and issuing no TLB flush',
    );
    expect(v?.explanation).not.toContain('too small');
  });

  it('should say the range was too small when the callback cleared only part of the invalidated range', async () => {
    const { v } = await first({ firstPageOnly: true, revokeBeforeCopy: false }, migrateBoth, 'own-migration-unrevoked');
    const va = v?.va as number;
    const firstPage = `[${hex(va - 4096)}, ${hex(va)})`;
    expect(v?.explanation).toContain(
      `callback "knob" returned true having cleared 1 device entry in ${firstPage} and flushed ${firstPage}`,
    );
    expect(v?.explanation).toContain(`none of which covers ${hex(va)}`);
    expect(v?.explanation).toContain('the range it handled was too small');
    expect(v?.explanation).not.toContain('clearing no device entry');
  });

  it('should say the flush was not waited for when the callback cleared the entry and left its fence', async () => {
    const { v } = await first({ flush: 'fence-nowait', revokeBeforeCopy: false }, migrateBoth, 'own-migration-unrevoked');
    expect(v?.explanation).toMatch(/issued a TLB flush covering it \(fence \d+\) that had not completed: the flush was not waited for/);
  });

  it("should say the migration path's revoke cleared the entry but did not wait for its flush", async () => {
    const { v } = await first(
      { ownerSkip: 'checked', revokeBeforeCopy: true, flush: 'fence-nowait' },
      migrateBoth,
      'own-migration-unrevoked',
    );
    expect(v?.explanation).toMatch(
      /its page-table entry was cleared at step \d+, but no flush covering it completed before the copy \(a flush issued and not waited for revokes nothing\)/,
    );
    expect(v?.explanation).not.toContain('nothing revoked it');
  });

  it.each<[string, Knobs]>([
    ['the whole range handled', { revokeBeforeCopy: false }],
    ['a fenced flush waited for', { flush: 'fence-wait', revokeBeforeCopy: false }],
    ['a skip revoked by the migration path', { ownerSkip: 'checked', revokeBeforeCopy: true }],
  ])('should pass the same run with %s', async (_name, knobs) => {
    const r = await checkScenario(knobDriver(knobs), migrateBoth, { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
  });
});

describe('missed-flush explanation', () => {
  it.each<[string, Knobs, string]>([
    [
      'a callback that skips',
      { zap: false, flush: 'none' },
      'after mmu_interval_set_seq only, clearing no device entry and issuing no TLB flush',
    ],
    ['a callback that handles too small a range', { firstPageOnly: true }, 'the range it handled was too small'],
    ['a flush not waited for', { flush: 'fence-nowait' }, 'that had not completed: the flush was not waited for'],
    ['a cleared entry without a flush', { flush: 'none' }, 'but issued no TLB flush covering it'],
  ])('should tell %s apart', async (_name, knobs, says) => {
    const { v } = await first(knobs, unmapBoth, 'missed-flush');
    expect(v?.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
    expect(v?.explanation).toContain(says);
    for (const other of ['clearing no device entry', 'too small', 'not waited for', 'issued no TLB flush covering it'].filter(
      (o) => !says.includes(o),
    )) {
      expect(v?.explanation).not.toContain(other);
    }
  });

  it.each<[string, Knobs]>([
    ['a synchronous flush of the whole range', {}],
    ['a fenced flush waited for', { flush: 'fence-wait' }],
  ])('should pass the same run with %s', async (_name, knobs) => {
    const r = await checkScenario(knobDriver(knobs), unmapBoth, { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
  });
});

describe('sleep-in-nonblockable explanation', () => {
  const explain = (context: string, what: string): string => {
    const out: ViolationInput[] = [];
    const ctx = { report: (v: ViolationInput) => out.push(v) } as unknown as OracleContext;
    checkKernelFact(ctx, { type: 'sleep-in-atomic', what, context, seq: 0, step: 0, task: 0 });
    return out[0]?.explanation ?? '';
  };

  it('should advise a trylock only for a non-blockable invalidation', () => {
    expect(explain('interval notifier "m" invalidate', 'mutex_lock(m.lock)')).toContain('use a trylock and return false');
  });

  it('should say arch_invalidate_secondary_tlbs may never sleep, without the OOM reaper advice', () => {
    const text = explain('mmu notifier "m" arch_invalidate_secondary_tlbs', 'arch_invalidate_secondary_tlbs returned a promise');
    expect(text).toContain('runs under the page-table lock');
    expect(text).not.toContain('OOM reaper');
  });
});

/**
 * A secondary MMU on a classic notifier only: its start clears and flushes the device, and its
 * fault path maps the page it looked up without checking whether an invalidation ran meanwhile.
 */
const classicMirror = defineDriver({
  name: 'classic-no-retry',
  probe(kernel: Kernel) {
    const dev = new Device(kernel, { name: 'gpu0' });
    return {
      devices: [dev],
      async bind(mm: Mm) {
        const vm = dev.createVm(mm, {
          async fault(v, f) {
            const va = kernel.pageAlignDown(f.va);
            await mm.mmapLock.downRead();
            const vma = mm.findVma(va);
            if (vma === undefined || (await handleMmFault(mm, vma, va, false)) & VM_FAULT_SIGSEGV) {
              mm.mmapLock.upRead();
              return -EFAULT;
            }
            const page = kernel.pages.page(ptePfn(mm.pte(va)));
            mm.mmapLock.upRead();
            await kernel.yieldPoint();
            v.setPte(va, page, { write: false });
            return 0;
          },
        });
        const mn = new MmuNotifier(
          {
            invalidateRangeStart(_s, range) {
              vm.clearRange(range.start, range.end);
              vm.flushTlb(range.start, range.end);
              return 0;
            },
          },
          'classic',
        );
        await mmuNotifierRegister(mn, mm);
        return { vms: [vm] };
      },
    };
  },
});

describe('stale-install explanation', () => {
  const race: Scenario = {
    regions: [{ ...anon, pages: 1 }],
    tasks: [
      { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] },
      { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
    ],
  };
  /** The explanations of stale-install over seeds 1 to 80. */
  async function explanations(knobs: Knobs): Promise<string[]> {
    const out: string[] = [];
    for (let seed = 1; seed <= 80; seed++) {
      const r = await checkScenario(knobDriver(knobs), race, { decisions: seededDecisions(seed), rules: ['stale-install'] });
      for (const v of r.violations) out.push(v.explanation);
    }
    return out;
  }

  it('should tell a driver with classic notifiers only to record invalidations itself, and one with interval notifiers to check mmu_interval_read_retry', async () => {
    const classic = [];
    for (let seed = 1; seed <= 80; seed++) {
      const r = await checkScenario(classicMirror, race, { decisions: seededDecisions(seed), rules: ['stale-install'] });
      for (const v of r.violations) classic.push(v.explanation);
    }
    expect(classic.length).toBeGreaterThan(0);
    for (const t of classic) {
      expect(t).toMatch(/classic notifier/);
      expect(t).not.toContain('mmu_interval_read_retry, checked');
    }
    // An install after the invalidation ended: the pfn went stale, and how the driver learns it.
    expect(classic.some((t) => t.includes('with classic notifiers the fault path must find out, under the lock the callbacks take'))).toBe(
      true,
    );
    const interval = await explanations({ setSeq: false });
    expect(interval.length).toBeGreaterThan(0);
    for (const t of interval) expect(t).not.toContain('with classic notifiers');
  });

  it('should say set_seq was never called when the callback skips it', async () => {
    const texts = await explanations({ setSeq: false });
    expect(texts.length).toBeGreaterThan(0);
    for (const t of texts) expect(t).not.toContain('a callback called mmu_interval_set_seq');
    expect(texts.some((t) => t.includes('no callback called mmu_interval_set_seq'))).toBe(true);
  });

  it('should say read_retry would have said to retry when set_seq was called but the install did not check under the lock', async () => {
    const texts = await explanations({ retryUnderLock: false });
    expect(texts.length).toBeGreaterThan(0);
    for (const t of texts) expect(t).not.toContain('no callback called mmu_interval_set_seq');
    expect(
      texts.some((t) => t.includes('a callback called mmu_interval_set_seq, so mmu_interval_read_retry would have said to retry')),
    ).toBe(true);
  });

  it('should stay silent over the same seeds with set_seq and the check under the lock', async () => {
    expect(await explanations({})).toEqual([]);
  });
});
