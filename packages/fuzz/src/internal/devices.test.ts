import {
  type Kernel,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  ULONG_MAX,
} from '@hmmlab/core';
import { Device, type DeviceVm, defineDriver } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { runCampaign } from './campaign.js';
import { onePageFault } from './test-mirror.js';

/**
 * One binding mirroring the process on two GPUs (a hive, or two tiles), under one notifier and
 * lock. The callback clears and flushes GPU 0, and GPU 1 too unless `forgetsSecond`.
 */
function twoGpuMirror(forgetsSecond: boolean) {
  return defineDriver({
    name: forgetsSecond ? 'two-gpus-second-forgotten' : 'two-gpus',
    vmsPerBinding: 2,
    probe(kernel: Kernel) {
      const gpus = [new Device(kernel, { name: 'gpu0' }), new Device(kernel, { name: 'gpu1' })];
      return {
        devices: gpus,
        async bind(mm) {
          const lock = kernel.mutex('hive.lock');
          const mni = new MmuIntervalNotifier('hive');
          const ps = kernel.pageSize;
          const vms: DeviceVm[] = gpus.map((gpu) => gpu.createVm(mm, { fault: onePageFault(kernel, mm, mni, lock, gpu.owner) }));
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
            async invalidate(sub, range, curSeq) {
              if (mmuNotifierRangeBlockable(range)) await lock.lock();
              else if (!lock.tryLock()) return false;
              mmuIntervalSetSeq(sub, curSeq);
              for (const vm of forgetsSecond ? vms.slice(0, 1) : vms) {
                vm.clearRange(range.start, range.end);
                vm.flushTlb(range.start, range.end);
              }
              lock.unlock();
              return true;
            },
          });
          return { vms };
        },
      };
    },
  });
}

describe('device work on every address space a binding declares', () => {
  it('should find a callback that forgets the second GPU in a default campaign', async () => {
    const r = await runCampaign(twoGpuMirror(true), { runs: 300, seed: 1 });
    expect(r.failure?.violation.rule).toBe('missed-flush');
    expect(r.failure?.violation.explanation).toMatch(/^gpu1 /);
  });

  it('should pass the same campaign when the callback revokes both', async () => {
    const r = await runCampaign(twoGpuMirror(false), { runs: 300, seed: 1 });
    expect(r.failure?.violation.explanation ?? 'pass').toBe('pass');
    expect(r.runs).toBe(300);
  });

  it('should keep to the first address spaces when the shape says how many', async () => {
    // devices: 1 is what every campaign drew before vmsPerBinding: the forgotten GPU never takes device work.
    const r = await runCampaign(twoGpuMirror(true), { runs: 300, seed: 1, shape: { devices: 1 } });
    expect(r.failure?.violation.explanation ?? 'pass').toBe('pass');
  });
});
