import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  hmmPfnToPage,
  type Kernel,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  ULONG_MAX,
} from '@hmmlab/core';
import { Device, defineDriver, hmmRangeFaultLoop } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { runCampaign, runSample } from './campaign.js';

/** A one-device mirror whose callback clears its page table; `flush` decides whether it also flushes the TLB. */
function mirror(flush: boolean) {
  return defineDriver({
    name: flush ? 'flushing-mirror' : 'unflushed-mirror',
    probe(kernel: Kernel) {
      const gpu = new Device(kernel, { name: 'gpu0' });
      return {
        devices: [gpu],
        async bind(mm) {
          const lock = kernel.mutex('gpu0.lock');
          const mni = new MmuIntervalNotifier('mirror');
          const ps = kernel.pageSize;
          const vm = gpu.createVm(mm, {
            fault(v, f) {
              const start = f.va - (f.va % ps);
              const range = {
                notifier: mni,
                notifierSeq: 0,
                start,
                end: start + ps,
                hmmPfns: [0],
                defaultFlags: HMM_PFN_REQ_FAULT | (f.kind === 'read' ? 0 : HMM_PFN_REQ_WRITE),
                pfnFlagsMask: 0,
                devPrivateOwner: gpu.owner,
              };
              return hmmRangeFaultLoop({
                mm,
                range,
                lock: () => lock.lock(),
                unlock: () => lock.unlock(),
                commit: () => {
                  const pfn = range.hmmPfns[0] as number;
                  v.setPte(start, hmmPfnToPage(kernel, pfn), { write: (pfn & HMM_PFN_WRITE) !== 0 });
                  return 0;
                },
              });
            },
          });
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
            async invalidate(sub, range, curSeq) {
              if (mmuNotifierRangeBlockable(range)) await lock.lock();
              else if (!lock.tryLock()) return false;
              mmuIntervalSetSeq(sub, curSeq);
              vm.clearRange(range.start, range.end);
              if (flush) vm.flushTlb(range.start, range.end);
              lock.unlock();
              return true;
            },
          });
          return { vms: [vm] };
        },
      };
    },
  });
}

describe('runCampaign', () => {
  it.each([1, 2, 3, 4])('should shrink the counterexample of seed %i until every op it keeps is needed', async (seed) => {
    const driver = mirror(false);
    const r = await runCampaign(driver, { runs: 500, seed });
    const f = r.failure;
    if (f === null) throw new Error(`seed ${seed} found nothing in 500 runs`);
    expect(f.violation.rule).toBe('missed-flush');
    expect(f.shrunk.opsAfter).toBeLessThanOrEqual(f.shrunk.opsBefore);
    // Without any one of the ops left, the same schedule no longer breaks the rule.
    for (let t = 0; t < f.scenario.tasks.length; t++) {
      const task = f.scenario.tasks[t] as (typeof f.scenario.tasks)[number];
      for (let o = 0; o < task.ops.length; o++) {
        const ops = task.ops.filter((_op, i) => i !== o);
        const tasks =
          ops.length === 0 ? f.scenario.tasks.filter((_x, i) => i !== t) : f.scenario.tasks.map((x, i) => (i === t ? { ...x, ops } : x));
        if (tasks.length === 0) continue;
        const again = await runSample(driver, [{ ...f.scenario, tasks }, f.schedule], {});
        expect(again.violations.map((v) => v.rule)).not.toContain('missed-flush');
      }
    }
  });

  it('should find nothing in the same runs when the callback flushes', async () => {
    const r = await runCampaign(mirror(true), { runs: 500, seed: 1 });
    expect(r.failure).toBeNull();
    expect(r.runs).toBe(500);
  });
});
