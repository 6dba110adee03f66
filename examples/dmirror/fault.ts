/**
 * The device fault path of lib/test_hmm.c (`dmirror_fault`, `dmirror_range_fault`,
 * `dmirror_do_fault`): the canonical loop read_begin → `hmm_range_fault` under the mmap read lock
 * → `dmirror->mutex` → read_retry → store the pages, a chunk of pages at a time.
 */
import {
  EBUSY,
  EFAULT,
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToPage,
  hmmRangeFault,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
} from '@hmmlab/core';
import { HMM_RANGE_DEFAULT_TIMEOUT } from '@hmmlab/harness';
import type { Dmirror } from './dmirror.js';

/** `dmirror_do_fault`: stores the pages `hmm_range_fault` returned; the caller holds the mutex. */
function dmirrorDoFault(dmirror: Dmirror, range: HmmRange): number {
  const k = dmirror.mdevice.kernel;
  const ps = k.pageSize;
  for (let addr = range.start, i = 0; addr < range.end; addr += ps, i++) {
    const e = range.hmmPfns[i] as number;
    // Since we asked for hmm_range_fault() to populate pages, it shouldn't return an error entry on success.
    if ((e & HMM_PFN_ERROR) !== 0 || (e & HMM_PFN_VALID) === 0) {
      k.warn('dmirror', `dmirror_do_fault: entry ${e} at 0x${addr.toString(16)} is not valid`);
      continue;
    }
    const write = (e & HMM_PFN_WRITE) !== 0;
    if (!write && (range.defaultFlags & HMM_PFN_REQ_WRITE) !== 0) {
      k.warn('dmirror', `dmirror_do_fault: write fault returned a read-only entry at 0x${addr.toString(16)}`);
      return -EFAULT;
    }
    dmirror.pt.setPte(addr, hmmPfnToPage(k, e), { write }, 'dmirror_do_fault');
  }
  return 0;
}

/** `dmirror_range_fault`. */
async function dmirrorRangeFault(dmirror: Dmirror, range: HmmRange): Promise<number> {
  const mm = dmirror.mm;
  const k = dmirror.mdevice.kernel;
  const timeout = k.jiffies + HMM_RANGE_DEFAULT_TIMEOUT;
  for (;;) {
    if (k.jiffies > timeout) return -EBUSY;
    range.notifierSeq = await mmuIntervalReadBegin(range.notifier);
    await mm.mmapLock.downRead();
    const ret = await hmmRangeFault(range);
    mm.mmapLock.upRead();
    if (ret !== 0) {
      if (ret === -EBUSY) continue;
      return ret;
    }
    await dmirror.mutex.lock();
    if (mmuIntervalReadRetry(range.notifier, range.notifierSeq)) {
      dmirror.mutex.unlock();
      continue;
    }
    break;
  }
  const ret = dmirrorDoFault(dmirror, range);
  dmirror.mutex.unlock();
  return ret;
}

/** `dmirror_fault`: faults `[start, end)` into the mirror. Returns 0 (also when the mm is gone) or an errno. */
export async function dmirrorFault(dmirror: Dmirror, start: number, end: number, write: boolean): Promise<number> {
  const mm = dmirror.mm;
  const ps = dmirror.mdevice.kernel.pageSize;
  const chunk = dmirror.era.faultChunk;
  const range: HmmRange = {
    notifier: dmirror.notifier,
    notifierSeq: 0,
    start: 0,
    end: 0,
    hmmPfns: new Array<number>(chunk).fill(0),
    pfnFlagsMask: 0,
    defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
    devPrivateOwner: dmirror.mdevice,
  };
  // Since the mm is for the mirrored process, get a reference first.
  if (!mm.mmgetNotZero()) return 0;
  let ret = 0;
  for (let addr = start; addr < end; addr = range.end) {
    range.start = addr;
    range.end = Math.min(addr + chunk * ps, end);
    ret = await dmirrorRangeFault(dmirror, range);
    if (ret !== 0) break;
  }
  await mm.mmput();
  return ret;
}
