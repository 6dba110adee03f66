/**
 * A one-device mirror driver for the fuzz package's specs.
 */
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToPage,
  type Kernel,
  type Mm,
  MmuIntervalNotifier,
  type MmuNotifierRange,
  type Mutex,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  ULONG_MAX,
} from '@hmmlab/core';
import { Device, type DeviceFault, type DeviceVm, defineDriver, hmmRangeFaultLoop } from '@hmmlab/harness';

/** The one-page `hmm_range` of the test mirrors' device faults: the page at `start`, writable unless the fault reads. */
export function onePageRange(notifier: MmuIntervalNotifier, start: number, ps: number, read: boolean, owner: unknown): HmmRange {
  return {
    notifier,
    notifierSeq: 0,
    start,
    end: start + ps,
    hmmPfns: [0],
    defaultFlags: HMM_PFN_REQ_FAULT | (read ? 0 : HMM_PFN_REQ_WRITE),
    pfnFlagsMask: 0,
    devPrivateOwner: owner,
  };
}

/**
 * The device fault handler of the test mirrors: the faulting page through `hmm_range_fault`
 * under `mni`, installed under `lock` once `read_retry` passed.
 */
export function onePageFault(
  kernel: Kernel,
  mm: Mm,
  mni: MmuIntervalNotifier,
  lock: Mutex,
  owner: unknown,
): (vm: DeviceVm, f: DeviceFault) => Promise<number> {
  const ps = kernel.pageSize;
  return (v, f) => {
    const start = f.va - (f.va % ps);
    const range = onePageRange(mni, start, ps, f.kind === 'read', owner);
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
  };
}

/**
 * A one-device mirror whose callback clears its page table; `flush` decides whether it also
 * flushes the TLB. `hangsOn`: invalidations on which the callback never returns instead (a hung
 * driver): it blocks in `Atomics.wait` on a word nothing changes, which stops its heartbeats as a
 * spinning loop does without keeping a CPU busy until the watchdog stops the thread (the
 * watchdog's own specs, watchdog.test.ts, spin).
 */
export function mirror(flush: boolean, hangsOn?: (range: MmuNotifierRange) => boolean) {
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
          const vm = gpu.createVm(mm, { fault: onePageFault(kernel, mm, mni, lock, gpu.owner) });
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
            async invalidate(sub, range, curSeq) {
              if (hangsOn?.(range) === true) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
              if (mmuNotifierRangeBlockable(range)) await lock.lock();
              else if (!lock.tryLock()) return false;
              mmuIntervalSetSeq(sub, curSeq);
              // What the device may have written is dirty (set_page_dirty): reclaim keeps it.
              vm.dirtyWritable(range.start, range.end);
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
