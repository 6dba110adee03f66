import {
  EAGAIN,
  EFAULT,
  firstRunnable,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  hmmPfnToPage,
  type Kernel,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalSetSeq,
  ULONG_MAX,
} from '@hmmlab/core';
import { type Binding, Device, defineDriver, hmmRangeFaultLoop, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { checkScenario } from '../check.js';

/**
 * What the mini mirror's fault path does with a range an invalidation marked invalid: `stuck`
 * answers "try again" and never clears the mark; `revalidates` clears it and faults the page in;
 * `once` answers "try again" once, clearing the mark (a collision the next attempt gets past);
 * `efault` fails the access with -EFAULT and never clears the mark.
 */
type Invalid = 'stuck' | 'revalidates' | 'once' | 'efault';

/** One interval notifier over the whole space; its callback clears, flushes and marks the mirror invalid. */
function mirror(mode: Invalid) {
  return defineDriver({
    name: `invalid-${mode}`,
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'gpu0' });
      return {
        devices: [dev],
        async bind(mm): Promise<Binding> {
          const lock = kernel.mutex('mirror lock');
          const mni = new MmuIntervalNotifier('mirror');
          const ps = kernel.pageSize;
          let invalid = false;
          const vm = dev.createVm(mm, {
            fault: async (v, f) => {
              if (invalid) {
                if (mode === 'efault') return -EFAULT;
                if (mode !== 'stuck') invalid = false;
                if (mode !== 'revalidates') return -EAGAIN;
              }
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
              await lock.lock();
              mmuIntervalSetSeq(sub, curSeq);
              vm.clearRange(range.start, range.end);
              vm.flushTlb(range.start, range.end);
              invalid = true;
              lock.unlock();
              return true;
            },
          });
          return {
            vms: [vm],
            async unbind() {
              await lock.lock();
              vm.clearRange(0, ULONG_MAX);
              vm.flushTlb(0, ULONG_MAX);
              lock.unlock();
              await mmuIntervalNotifierRemove(mni);
            },
          };
        },
      };
    },
  });
}

const page0 = { region: 0, page: 0 } as const;

/** A device read, MADV_DONTNEED of the page, another device read, then `after` on the CPU: in that order (tasks run to their end one after another). */
function scenario(after: Scenario['tasks'][number]['ops'] = [], exitAtEnd = true): Scenario {
  return {
    exitAtEnd,
    regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      { kind: 'device', ops: [{ op: 'dev-read', ...page0 }] },
      { kind: 'cpu', ops: [{ op: 'madvise', ...page0, pages: 1, advice: 'dontneed' }] },
      { kind: 'device', ops: [{ op: 'dev-read', ...page0 }] },
      { kind: 'cpu', ops: after },
    ],
  };
}

describe('fault-stuck', () => {
  it('should report a fault path that still says "try again" once every program is done', async () => {
    const r = await checkScenario(mirror('stuck'), scenario(), { decisions: firstRunnable });
    expect(r.violations.map((x) => x.rule)).toEqual(['fault-stuck']);
    const v = r.violations.find((x) => x.rule === 'fault-stuck');
    expect(v?.explanation).toMatch(
      /^gpu0 vm \d+: a device read at 0x[0-9a-f]+ failed with -EAGAIN at step \d+; made again once every program was done .* failed it again with -EAGAIN/,
    );
    expect(v?.task).toMatch(/^device retry at rest/);
    expect(v?.device).toBe('gpu0');
    // The access itself is what the programs saw fail: the op's outcome is the errno.
    expect(r.result.outcomes.find((o) => o.task === 2)).toMatchObject({ status: 'signal', ret: -EAGAIN });
  });

  it('should pass the same scenario with a fault path that revalidates the range', async () => {
    const r = await checkScenario(mirror('revalidates'), scenario(), { decisions: firstRunnable });
    expect(r.violations).toEqual([]);
    expect(r.run.status).toBe('done');
  });

  it('should pass a fault path that said "try again" once: the retry at rest succeeds', async () => {
    const r = await checkScenario(mirror('once'), scenario(), { decisions: firstRunnable });
    expect(r.result.outcomes.find((o) => o.task === 2)).toMatchObject({ status: 'signal', ret: -EAGAIN });
    expect(r.violations).toEqual([]);
    const retries = r.result.world.kernel.trace.events().filter((e) => e.type === 'dev-retry');
    expect(retries.map((e) => (e.type === 'dev-retry' ? [e.phase, e.result] : null))).toEqual([
      ['begin', 0],
      ['end', 0],
    ]);
    // The campaign's coverage says the check ran.
    expect(r.coverage.windows['device-fault-retried-at-rest']).toBe(1);
  });

  it('should not retry an access failed with another errno', async () => {
    const r = await checkScenario(mirror('efault'), scenario(), { decisions: firstRunnable });
    expect(r.result.outcomes.find((o) => o.task === 2)).toMatchObject({ status: 'signal', ret: -EFAULT });
    expect(r.violations).toEqual([]);
    expect(r.result.world.kernel.trace.events().some((e) => e.type === 'dev-retry')).toBe(false);
    expect(r.coverage.windows['device-fault-retried-at-rest']).toBeUndefined();
  });

  it('should not retry an access to memory the process no longer maps, nor when the run does not end as a program ends', async () => {
    const unmapped = await checkScenario(mirror('stuck'), scenario([{ op: 'munmap', ...page0, pages: 1 }]), { decisions: firstRunnable });
    expect(unmapped.violations).toEqual([]);
    const noExit = await checkScenario(mirror('stuck'), scenario([], false), { decisions: firstRunnable });
    expect(noExit.violations).toEqual([]);
    for (const r of [unmapped, noExit]) expect(r.result.world.kernel.trace.events().some((e) => e.type === 'dev-retry')).toBe(false);
  });
});
