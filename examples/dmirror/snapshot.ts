/**
 * `HMM_DMIRROR_SNAPSHOT` (lib/test_hmm.c `dmirror_snapshot`): what the CPU page table says of
 * each page, without faulting anything in, as one `HMM_DMIRROR_PROT_*` byte per page. Each chunk
 * is read under a temporary interval notifier of its own.
 */
import {
  EBUSY,
  EFAULT,
  EINVAL,
  HMM_PFN_ERROR,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToMapOrder,
  hmmPfnToPage,
  hmmRangeFault,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
} from '@hmmlab/core';
import { HMM_RANGE_DEFAULT_TIMEOUT } from '@hmmlab/harness';
import type { Dmirror } from './dmirror.js';
import { copyToUser, type HmmDmirrorCmd } from './rw.js';
import {
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
} from './uapi.js';

/** Pages per snapshot chunk (`unsigned long pfns[32]` in NEWEST). */
const SNAPSHOT_CHUNK = 32;

/** `dmirror_mkentry`: the byte for one `hmm_range_fault` output entry. */
function dmirrorMkentry(dmirror: Dmirror, entry: number): number {
  const k = dmirror.mdevice.kernel;
  if ((entry & HMM_PFN_ERROR) !== 0) return HMM_DMIRROR_PROT_ERROR;
  if ((entry & HMM_PFN_VALID) === 0) return HMM_DMIRROR_PROT_NONE;
  const page = hmmPfnToPage(k, entry);
  let perm: number;
  // dmirror_page_to_device(page) is the pgmap owner: the dmirror_device.
  const local = page.pgmap?.owner === dmirror.mdevice;
  if (page.isDevicePrivate) perm = local ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL : HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
  else if (page.isDeviceCoherent) perm = local ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL : HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
  // is_zero_pfn: the zero page, not a page of the huge zero page.
  else if (page === k.pages.zeroPage) perm = HMM_DMIRROR_PROT_ZERO;
  else perm = HMM_DMIRROR_PROT_NONE;
  perm |= (entry & HMM_PFN_WRITE) !== 0 ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_READ;
  // hmm_pfn_to_map_order() + PAGE_SHIFT == PMD_SHIFT (or PUD_SHIFT): a table level holds
  // PTRS_PER_PTE entries (2^9 with 8-byte entries): order 9 under a THP or hugetlb PMD.
  const levelOrder = Math.log2(k.pageSize / 8);
  if (hmmPfnToMapOrder(entry) === levelOrder) perm |= HMM_DMIRROR_PROT_PMD;
  else if (hmmPfnToMapOrder(entry) === 2 * levelOrder) perm |= HMM_DMIRROR_PROT_PUD;
  return perm;
}

/** `dmirror_range_snapshot`: one chunk, read under its own temporary interval notifier. */
async function dmirrorRangeSnapshot(dmirror: Dmirror, range: HmmRange, perm: Uint8Array): Promise<number> {
  const mm = dmirror.mm;
  const k = dmirror.mdevice.kernel;
  const ps = k.pageSize;
  const timeout = k.jiffies + HMM_RANGE_DEFAULT_TIMEOUT;
  const notifier = new MmuIntervalNotifier(`${dmirror.notifier.name} snapshot`);
  range.notifier = notifier;
  let ret = await mmuIntervalNotifierInsert(notifier, mm, range.start, range.end - range.start, {
    // dmirror_snapshot_invalidate: snapshots only need to set the sequence number since any
    // invalidation in the interval invalidates the whole snapshot.
    async invalidate(mni, r, curSeq) {
      if (mmuNotifierRangeBlockable(r)) await dmirror.mutex.lock();
      else if (!dmirror.mutex.tryLock()) return false;
      mmuIntervalSetSeq(mni, curSeq);
      dmirror.mutex.unlock();
      return true;
    },
  });
  if (ret !== 0) return ret;
  for (;;) {
    if (k.jiffies > timeout) {
      ret = -EBUSY;
      break;
    }
    range.notifierSeq = await mmuIntervalReadBegin(notifier);
    await mm.mmapLock.downRead();
    ret = await hmmRangeFault(range);
    mm.mmapLock.upRead();
    if (ret !== 0) {
      if (ret === -EBUSY) continue;
      break;
    }
    await dmirror.mutex.lock();
    if (mmuIntervalReadRetry(notifier, range.notifierSeq)) {
      dmirror.mutex.unlock();
      continue;
    }
    const n = (range.end - range.start) / ps;
    for (let i = 0; i < n; i++) perm[i] = dmirrorMkentry(dmirror, range.hmmPfns[i] as number);
    dmirror.mutex.unlock();
    break;
  }
  await mmuIntervalNotifierRemove(notifier);
  return ret;
}

/** `dmirror_snapshot`: `cpages` counts the bytes written to `ptr`. */
export async function dmirrorSnapshot(dmirror: Dmirror, cmd: HmmDmirrorCmd): Promise<number> {
  const mm = dmirror.mm;
  const ps = dmirror.mdevice.kernel.pageSize;
  const start = cmd.addr;
  const end = start + cmd.npages * ps;
  const perm = new Uint8Array(SNAPSHOT_CHUNK);
  const range: HmmRange = {
    notifier: dmirror.notifier,
    notifierSeq: 0,
    start: 0,
    end: 0,
    hmmPfns: new Array<number>(SNAPSHOT_CHUNK).fill(0),
    defaultFlags: 0,
    pfnFlagsMask: 0,
    devPrivateOwner: dmirror.mdevice,
  };
  // Since the mm is for the mirrored process, get a reference first.
  if (!mm.mmgetNotZero()) return -EINVAL;
  const user = cmd.ptr === undefined ? undefined : new Uint8Array(cmd.ptr.buffer, cmd.ptr.byteOffset, cmd.ptr.byteLength);
  let uptr = 0;
  let ret = 0;
  for (let addr = start; addr < end; addr = range.end) {
    range.start = addr;
    range.end = Math.min(addr + SNAPSHOT_CHUNK * ps, end);
    ret = await dmirrorRangeSnapshot(dmirror, range, perm);
    if (ret !== 0) break;
    const n = (range.end - range.start) / ps;
    if (!copyToUser(user?.subarray(uptr), perm.subarray(0, n))) {
      ret = -EFAULT;
      break;
    }
    cmd.cpages += n;
    uptr += n;
  }
  await mm.mmput();
  return ret;
}
