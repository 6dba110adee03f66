/**
 * A one-device mirror for the fuzz package's huge-page specs. It registers an interval notifier
 * lazily, one per 64-page window it faults in (as drivers that mirror a fault window do), and
 * when `hmm_range_fault` reports a PMD mapping (map order 9) it maps more than the faulting page
 * at once. `clamp` decides how much: the pages of the huge page inside the window's interval, or
 * (the bug) all 512 of them, most outside any interval of its own.
 */
import {
  EFAULT,
  HMM_PFN_WRITE,
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
  type Kernel,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
} from '@hmmlab/core';
import { Device, defineDriver, hmmRangeFaultLoop } from '@hmmlab/harness';
import { onePageRange } from './test-mirror.js';

const WINDOW_PAGES = 64;

/** The window mirror; `clamp` keeps its huge-page mappings inside the faulting window's interval. */
export function thpMirror(clamp: boolean) {
  return defineDriver({
    name: clamp ? 'thp-window-mirror' : 'thp-wide-mirror',
    probe(kernel: Kernel) {
      const gpu = new Device(kernel, { name: 'gpu0' });
      return {
        devices: [gpu],
        async bind(mm) {
          const lock = kernel.mutex('gpu0.lock');
          const ps = kernel.pageSize;
          const span = WINDOW_PAGES * ps;
          const windows = new Map<number, MmuIntervalNotifier>();
          const winLock = kernel.mutex('gpu0.windows');
          const vm = gpu.createVm(mm, {
            async fault(v, f) {
              const start = f.va - (f.va % ps);
              const w = start - (start % span);
              // A window's notifier goes on a live mm only (mmget_not_zero, as a driver's fault
              // handler takes it before registering): after exit the fault fails.
              if (!mm.mmgetNotZero()) return -EFAULT;
              await winLock.lock();
              let mni = windows.get(w);
              if (mni === undefined) {
                mni = new MmuIntervalNotifier(`window 0x${w.toString(16)}`);
                await mmuIntervalNotifierInsert(mni, mm, w, span, {
                  async invalidate(sub, range, curSeq) {
                    if (mmuNotifierRangeBlockable(range)) await lock.lock();
                    else if (!lock.tryLock()) return false;
                    mmuIntervalSetSeq(sub, curSeq);
                    // The part of the range this interval covers.
                    const s = Math.max(range.start, sub.start);
                    const e = Math.min(range.end, sub.last + 1);
                    if (s < e) {
                      vm.clearRange(s, e);
                      vm.flushTlb(s, e);
                    }
                    lock.unlock();
                    return true;
                  },
                });
                windows.set(w, mni);
              }
              winLock.unlock();
              await mm.mmput();
              const notifier = mni;
              const range = onePageRange(notifier, start, ps, f.kind === 'read', gpu.owner);
              return hmmRangeFaultLoop({
                mm,
                range,
                lock: () => lock.lock(),
                unlock: () => lock.unlock(),
                commit: () => {
                  const entry = range.hmmPfns[0] as number;
                  const write = (entry & HMM_PFN_WRITE) !== 0;
                  if (hmmPfnToMapOrder(entry) !== HPAGE_PMD_ORDER) {
                    v.setPte(start, kernel.pages.page(hmmPfnToPfn(entry)), { write });
                    return 0;
                  }
                  // One PMD maps the 512 pages of the huge page, at consecutive pfns.
                  const pmd = HPAGE_PMD_NR * ps;
                  const huge = start - (start % pmd);
                  const first = hmmPfnToPfn(entry) - (start - huge) / ps;
                  for (let i = 0; i < HPAGE_PMD_NR; i++) {
                    const va = huge + i * ps;
                    if (clamp && (va < notifier.start || va > notifier.last)) continue;
                    v.setPte(va, kernel.pages.page(first + i), { write });
                  }
                  return 0;
                },
              });
            },
          });
          return { vms: [vm] };
        },
      };
    },
  });
}
