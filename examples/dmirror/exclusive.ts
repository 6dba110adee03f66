/**
 * `HMM_DMIRROR_EXCLUSIVE` and `HMM_DMIRROR_CHECK_EXCLUSIVE` (lib/test_hmm.c, v5.14+): the device
 * takes pages for atomics with `make_device_exclusive` (NEWEST, one page at a time) or
 * `make_device_exclusive_range` (5.14–6.13, 64 pages at a time) and mirrors them with the ATOMIC
 * tag. It passes no owner, so its own `MMU_NOTIFY_EXCLUSIVE` invalidation erases the old entry
 * before the atomic one is stored.
 */
import { EAGAIN, EBUSY, EFAULT, EINVAL, EPERM, makeDeviceExclusive, makeDeviceExclusiveRange, type Page } from '@hmmlab/core';
import { DEV_PTE_ATOMIC, devPteFlags } from '@hmmlab/harness';
import type { Dmirror } from './dmirror.js';
import { copyToUser, dmirrorBounceInit, dmirrorDoRead, type HmmDmirrorCmd } from './rw.js';

/** Pages per `make_device_exclusive_range` call in the 5.14–6.13 driver (`struct page *pages[64]`). */
const EXCLUSIVE_CHUNK = 64;

/** `dmirror_atomic_map` (NEWEST): stores one page with `DPT_XA_TAG_ATOMIC`. */
export async function dmirrorAtomicMap(addr: number, page: Page, dmirror: Dmirror): Promise<number> {
  await dmirror.mutex.lock();
  dmirror.pt.setPte(addr, page, { write: false, atomic: true }, 'dmirror_atomic_map');
  dmirror.mutex.unlock();
  return 0;
}

/** `dmirror_atomic_map` (5.14–6.13): stores the pages that were made exclusive; returns how many. */
export async function dmirrorAtomicMapRange(start: number, end: number, pages: (Page | null)[], dmirror: Dmirror): Promise<number> {
  await dmirror.mutex.lock();
  const mapped = dmirrorAtomicMapRangeLocked(start, end, pages, dmirror);
  dmirror.mutex.unlock();
  return mapped;
}

/** The body of {@link dmirrorAtomicMapRange}, with `dmirror->mutex` held. */
export function dmirrorAtomicMapRangeLocked(start: number, end: number, pages: (Page | null)[], dmirror: Dmirror): number {
  const ps = dmirror.mdevice.kernel.pageSize;
  let mapped = 0;
  for (let i = 0, addr = start; addr < end; i++, addr += ps) {
    const page = pages[i];
    if (page === null || page === undefined) continue;
    dmirror.pt.setPte(addr, page, { write: false, atomic: true }, 'dmirror_atomic_map');
    mapped++;
  }
  return mapped;
}

/** The exclusive loop of NEWEST `dmirror_exclusive`; the caller holds the mmap read lock. */
async function exclusiveSingle(dmirror: Dmirror, start: number, end: number): Promise<number> {
  const k = dmirror.mdevice.kernel;
  let ret = 0;
  for (let addr = start; ret === 0 && addr < end; addr += k.pageSize) {
    // A variant may retry a page its atomicMap refused; test_hmm maps each page once.
    for (let attempt = 0; ; attempt++) {
      const token = await dmirror.exclusiveStart(addr, addr + k.pageSize);
      const page = await makeDeviceExclusive(dmirror.mm, addr, dmirror.exclusiveOwner());
      if (typeof page === 'number') return page;
      ret = await dmirror.atomicMap(addr, page, token);
      k.pages.unlockPage(page);
      k.pages.putPage(page);
      if (ret !== -EAGAIN || attempt >= 8) break;
    }
  }
  return ret;
}

/** The exclusive loop of the 5.14–6.13 `dmirror_exclusive`; the caller holds the mmap read lock. */
async function exclusiveRange(dmirror: Dmirror, start: number, end: number): Promise<number> {
  const k = dmirror.mdevice.kernel;
  const ps = k.pageSize;
  const pages: (Page | null)[] = new Array<Page | null>(EXCLUSIVE_CHUNK).fill(null);
  for (let addr = start; addr < end; ) {
    const next = Math.min(end, addr + EXCLUSIVE_CHUNK * ps);
    pages.fill(null);
    const token = await dmirror.exclusiveStart(addr, next);
    const ret = await makeDeviceExclusiveRange(dmirror.mm, addr, next, pages, dmirror.exclusiveOwner());
    // 6.1 maps only when every page was made exclusive ("Do dmirror_atomic_map() iff all pages
    // are marked for exclusive access", lib/test_hmm.c dmirror_exclusive); the pages converted
    // before a failure keep their device-exclusive entries, unmirrored.
    const all = ret === (next - addr) / ps;
    const mapped = all || !dmirror.era.deviceRange ? await dmirror.atomicMapRange(addr, next, pages, token) : 0;
    for (let i = 0; i < ret; i++) {
      const p = pages[i];
      if (p === null || p === undefined) continue;
      k.pages.unlockPage(p);
      k.pages.putPage(p);
    }
    if (addr + mapped * ps < next) return -EBUSY;
    addr = next;
  }
  return 0;
}

/** `dmirror_exclusive`: makes `[addr, addr + npages)` device-exclusive, then reads it back. */
export async function dmirrorExclusive(dmirror: Dmirror, cmd: HmmDmirrorCmd): Promise<number> {
  const mm = dmirror.mm;
  const ps = dmirror.mdevice.kernel.pageSize;
  const start = cmd.addr;
  const end = start + cmd.npages * ps;
  // Since the mm is for the mirrored process, get a reference first.
  if (!mm.mmgetNotZero()) return -EINVAL;
  await mm.mmapLock.downRead();
  let ret: number;
  try {
    ret = dmirror.era.exclusive === 'single' ? await exclusiveSingle(dmirror, start, end) : await exclusiveRange(dmirror, start, end);
  } finally {
    mm.mmapLock.upRead();
  }
  await mm.mmput();
  if (ret !== 0) return ret;
  // Return the migrated data for verification.
  const bounce = dmirrorBounceInit(dmirror, start, cmd.npages);
  await dmirror.mutex.lock();
  ret = await dmirrorDoRead(dmirror, start, end, bounce);
  dmirror.mutex.unlock();
  if (ret === 0 && !copyToUser(cmd.ptr, bounce.ptr)) ret = -EFAULT;
  cmd.cpages = bounce.cpages;
  return ret;
}

/** `dmirror_check_atomic`: `-EPERM` if any entry of `[start, end)` still has the ATOMIC tag. */
export function dmirrorCheckAtomic(dmirror: Dmirror, start: number, end: number): number {
  const ps = dmirror.mdevice.kernel.pageSize;
  for (let va = start; va < end; va += ps) {
    if ((devPteFlags(dmirror.pt.pte(va)) & DEV_PTE_ATOMIC) !== 0) return -EPERM;
  }
  return 0;
}
