import {
  type DecisionSource,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  hmmPfnToPage,
  type Kernel,
  MMU_NOTIFY_PROTECTION_VMA,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  seededDecisions,
  ULONG_MAX,
} from '@hmmlab/core';
import { Device, defineDriver, hmmRangeFaultLoop, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { checkScenario } from './check.js';

/**
 * A mirror whose callback ignores mprotect (MMU_NOTIFY_PROTECTION_VMA: it is preempted a few
 * times, then returns true having done nothing) and clears and flushes for every other event.
 */
const ignoresProtection = defineDriver({
  name: 'ignores-protection',
  probe(kernel: Kernel) {
    const dev = new Device(kernel, { name: 'gpu0' });
    return {
      devices: [dev],
      async bind(mm) {
        const lock = kernel.mutex('lock');
        const mni = new MmuIntervalNotifier('mirror');
        const ps = kernel.pageSize;
        const vm = dev.createVm(mm, {
          fault(v, f) {
            const start = f.va - (f.va % ps);
            return hmmRangeFaultLoop({
              mm,
              range: {
                notifier: mni,
                notifierSeq: 0,
                start,
                end: start + ps,
                hmmPfns: [0],
                defaultFlags: HMM_PFN_REQ_FAULT | (f.kind === 'read' ? 0 : HMM_PFN_REQ_WRITE),
                pfnFlagsMask: 0,
                devPrivateOwner: dev.owner,
              },
              lock: () => lock.lock(),
              unlock: () => lock.unlock(),
              commit(r) {
                const e = r.hmmPfns[0] as number;
                v.setPte(r.start, hmmPfnToPage(kernel, e), { write: (e & HMM_PFN_WRITE) !== 0 });
              },
            });
          },
        });
        await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
          async invalidate(sub, range, curSeq) {
            if (range.event === MMU_NOTIFY_PROTECTION_VMA) {
              for (let i = 0; i < 8; i++) await kernel.yieldPoint();
              return true;
            }
            await lock.lock();
            mmuIntervalSetSeq(sub, curSeq);
            vm.clearRange(range.start, range.end);
            vm.flushTlb(range.start, range.end);
            lock.unlock();
            return true;
          },
        });
        return { vms: [vm] };
      },
    };
  },
});

/**
 * The device writes pages 0 and 1; a CPU thread makes page 1 read-only while reclaim takes page 0
 * (it holds no mmap lock, so the two invalidations can be in their callbacks at once).
 */
const protectBesideReclaim: Scenario = {
  regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    {
      kind: 'device',
      ops: [
        { op: 'dev-write', region: 0, page: 0, value: 1 },
        { op: 'dev-write', region: 0, page: 1, value: 2 },
      ],
    },
    { kind: 'cpu', ops: [{ op: 'mprotect', region: 0, page: 1, pages: 1, prot: 'r' }] },
    { kind: 'kernel', ops: [{ op: 'reclaim', region: 0, page: 0 }] },
  ],
};

describe('two invalidations whose callbacks run at once', () => {
  it("should explain each from its own callbacks' acts, not the other's", async () => {
    let overlapped = 0;
    for (let seed = 1; seed <= 60; seed++) {
      // The device first (it maps both pages), then the two invalidating tasks in a seeded order.
      const seeded = seededDecisions(seed);
      const decisions: DecisionSource = {
        pick: (candidates, step) => {
          const device = candidates.findIndex((c) => c.kind === 'device');
          return device >= 0 ? device : seeded.pick(candidates, step);
        },
      };
      const r = await checkScenario(ignoresProtection, protectBesideReclaim, { decisions, trace: 'all' });
      const v = r.violations.find((x) => x.rule === 'missed-flush' && x.invalidation?.event === 'MMU_NOTIFY_PROTECTION_VMA');
      if (v === undefined) continue;
      // The mprotect's callback did nothing, whatever the reclaim's callback did meanwhile.
      expect(v.explanation).toContain('clearing no device entry and issuing no TLB flush');
      expect(v.explanation).not.toContain('too small');
      const events = r.result.world.kernel.trace.events();
      const start = events.findIndex((e) => e.type === 'inv-start' && e.event === MMU_NOTIFY_PROTECTION_VMA);
      const started = events.findIndex((e, i) => i > start && e.type === 'inv-started');
      if (events.slice(start, started).some((e) => e.type === 'dev-pte')) overlapped++;
    }
    // Some schedules did run the reclaim's clear inside the mprotect's callback phase.
    expect(overlapped).toBeGreaterThan(0);
  });
});
