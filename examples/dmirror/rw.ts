/**
 * `HMM_DMIRROR_READ` and `HMM_DMIRROR_WRITE` (lib/test_hmm.c `dmirror_read`, `dmirror_write`):
 * the device copies mirrored pages to or from a bounce buffer under `dmirror->mutex`, and on the
 * first page not mirrored (with write permission, for a write) faults the rest in and tries again;
 * `faults` counts those rounds.
 */
import { EFAULT, ENOENT } from '@hmmlab/core';
import { DEV_PTE_WRITE, devPteFlags, kernelBuffer } from '@hmmlab/harness';
import type { Dmirror } from './dmirror.js';
import { dmirrorFault } from './fault.js';

/** `struct hmm_dmirror_cmd` as the driver sees it after `copy_from_user`. */
export interface HmmDmirrorCmd {
  readonly addr: number;
  readonly ptr: Int32Array | Uint8Array | undefined;
  readonly npages: number;
  cpages: number;
  faults: number;
}

/** `struct dmirror_bounce`: the kernel buffer a command copies through, in words. */
export interface DmirrorBounce {
  readonly ptr: Int32Array;
  readonly addr: number;
  cpages: number;
}

/** `dmirror_bounce_init`: the buffer is `vmalloc`'d, so an access past its end is out of bounds. */
export function dmirrorBounceInit(dmirror: Dmirror, addr: number, npages: number): DmirrorBounce {
  return { ptr: kernelBuffer(npages * dmirror.mdevice.kernel.wordsPerPage, 'dmirror bounce buffer'), addr, cpages: 0 };
}

/** `copy_to_user` of `src` into the user buffer: false (the caller's `-EFAULT`) if it does not fit. */
export function copyToUser(ptr: Int32Array | Uint8Array | undefined, src: Int32Array | Uint8Array): boolean {
  if (ptr === undefined || ptr.byteLength < src.byteLength) return false;
  new Uint8Array(ptr.buffer, ptr.byteOffset, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  return true;
}

/** `dmirror_do_read`: copies mirrored pages into the bounce buffer; `-ENOENT` at the first page not mirrored. */
export async function dmirrorDoRead(dmirror: Dmirror, start: number, end: number, bounce: DmirrorBounce): Promise<number> {
  const k = dmirror.mdevice.kernel;
  const ps = k.pageSize;
  const wpp = k.wordsPerPage;
  let off = ((start - bounce.addr) / ps) * wpp;
  for (let va = start; va < end; va += ps) {
    if (dmirror.pt.pte(va) === 0) return -ENOENT;
    // kmap and memcpy of the page the entry names (checked above).
    await dmirror.pt.copyMapped(va, 'read', bounce.ptr, off, wpp);
    off += wpp;
    bounce.cpages++;
  }
  return 0;
}

/** `dmirror_do_write`: `-ENOENT` at the first page without a `DPT_XA_TAG_WRITE` entry. */
async function dmirrorDoWrite(dmirror: Dmirror, start: number, end: number, bounce: DmirrorBounce): Promise<number> {
  const k = dmirror.mdevice.kernel;
  const ps = k.pageSize;
  const wpp = k.wordsPerPage;
  let off = ((start - bounce.addr) / ps) * wpp;
  for (let va = start; va < end; va += ps) {
    const e = dmirror.pt.pte(va);
    if (e === 0 || (devPteFlags(e) & DEV_PTE_WRITE) === 0) return -ENOENT;
    await dmirror.pt.copyMapped(va, 'write', bounce.ptr, off, wpp);
    off += wpp;
    bounce.cpages++;
  }
  return 0;
}

/** `dmirror_read`. */
export async function dmirrorRead(dmirror: Dmirror, cmd: HmmDmirrorCmd): Promise<number> {
  const ps = dmirror.mdevice.kernel.pageSize;
  let start = cmd.addr;
  const end = start + cmd.npages * ps;
  const bounce = dmirrorBounceInit(dmirror, start, cmd.npages);
  let ret: number;
  for (;;) {
    await dmirror.mutex.lock();
    ret = await dmirrorDoRead(dmirror, start, end, bounce);
    dmirror.mutex.unlock();
    if (ret !== -ENOENT) break;
    start = cmd.addr + bounce.cpages * ps;
    ret = await dmirrorFault(dmirror, start, end, false);
    if (ret !== 0) break;
    cmd.faults++;
  }
  if (ret === 0 && !copyToUser(cmd.ptr, bounce.ptr)) ret = -EFAULT;
  cmd.cpages = bounce.cpages;
  return ret;
}

/** `dmirror_write`. */
export async function dmirrorWrite(dmirror: Dmirror, cmd: HmmDmirrorCmd): Promise<number> {
  const ps = dmirror.mdevice.kernel.pageSize;
  let start = cmd.addr;
  const end = start + cmd.npages * ps;
  const bounce = dmirrorBounceInit(dmirror, start, cmd.npages);
  // copy_from_user
  if (!(cmd.ptr instanceof Int32Array) || cmd.ptr.length < bounce.ptr.length) return -EFAULT;
  bounce.ptr.set(cmd.ptr.subarray(0, bounce.ptr.length));
  let ret: number;
  for (;;) {
    await dmirror.mutex.lock();
    ret = await dmirrorDoWrite(dmirror, start, end, bounce);
    dmirror.mutex.unlock();
    if (ret !== -ENOENT) break;
    start = cmd.addr + bounce.cpages * ps;
    ret = await dmirrorFault(dmirror, start, end, true);
    if (ret !== 0) break;
    cmd.faults++;
  }
  cmd.cpages = bounce.cpages;
  return ret;
}
