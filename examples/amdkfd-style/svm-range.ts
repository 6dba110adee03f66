/**
 * `struct svm_range` and its notifier (drivers/gpu/drm/amd/amdkfd/kfd_svm.c): each range of the
 * process's address space the GPUs mirror has its own interval notifier and lock. The callback,
 * `svm_range_cpu_invalidate_pagetables`, filters only RELEASE (the release notifier has destroyed
 * the queues) and treats the GPU's own migrations like any other eviction.
 */
import {
  EAGAIN,
  EBUSY,
  EFAULT,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToPage,
  hmmRangeFault,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_UNMAP,
  MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  type Mutex,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
} from '@hmmlab/core';
import { HMM_RANGE_DEFAULT_TIMEOUT, SharedCell } from '@hmmlab/harness';
import type { KfdProcess } from './process.js';

/** `AMDGPU_SVM_RANGE_RESTORE_DELAY_MS`: how long the restore worker waits after an eviction. */
const RESTORE_DELAY = 1;

/** `struct svm_range`: `[begin, end)` of one process, mirrored by the hive's GPUs. */
export class SvmRange extends MmuIntervalNotifier {
  readonly p: KfdProcess;
  /** First address (`prange->start << PAGE_SHIFT`). */
  readonly begin: number;
  /** End address, exclusive (`(prange->last + 1) << PAGE_SHIFT`). */
  readonly end: number;
  /** `prange->lock`: taken by the callback around `set_seq`, and by the mapping path around `read_retry`. */
  readonly lock: Mutex;
  /**
   * `prange->invalid` (an `atomic_t`): evictions (XNACK off) not yet revalidated by the restore
   * worker; `removed`: unmapped by the CPU and queued for removal (`SVM_OP_UNMAP_RANGE`), nothing
   * maps through it any more; `listed`: on the process's range list (`svms->list`), set under
   * `svmsLock` and this range's lock. A range whose notifier went in but lost the race to the
   * list never maps anything: its callback must not touch the GPU entries of the range that won,
   * which only that range's lock protects.
   */
  private readonly shared: {
    readonly invalid: SharedCell<number>;
    readonly removed: SharedCell<boolean>;
    readonly listed: SharedCell<boolean>;
  };

  get invalid(): number {
    return this.shared.invalid.get();
  }
  set invalid(v: number) {
    this.shared.invalid.set(v);
  }
  get removed(): boolean {
    return this.shared.removed.get();
  }
  set removed(v: boolean) {
    this.shared.removed.set(v);
  }
  get listed(): boolean {
    return this.shared.listed.get();
  }
  set listed(v: boolean) {
    this.shared.listed.set(v);
  }

  constructor(p: KfdProcess, start: number, end: number) {
    super(`svm_range 0x${start.toString(16)}-0x${end.toString(16)}`);
    this.p = p;
    this.begin = start;
    this.end = end;
    this.lock = p.kernel.mutex(`svm_range 0x${start.toString(16)} lock`);
    const name = `svm_range 0x${start.toString(16)}`;
    this.shared = {
      invalid: new SharedCell(p.kernel, `${name} invalid`, 0, { atomic: true }),
      // Written under this range's lock; read as a hint under svmsLock (the range lookups), and
      // read again under this range's lock before any GPU entry is written: a hint read is a
      // READ_ONCE, so every access to it is declared atomic.
      removed: new SharedCell(p.kernel, `${name} removed`, false, { atomic: true }),
      listed: new SharedCell(p.kernel, `${name} listed`, false),
    };
  }
}

/**
 * Clears `[start, end)` on the GPUs and waits for their TLB invalidations
 * (`svm_range_unmap_from_gpus`: `amdgpu_vm_update_range` then `kfd_flush_tlb(TLB_FLUSH_HEAVYWEIGHT)`).
 * The flush is issued even when nothing was cleared here: the queue teardown may have cleared
 * these entries without the range lock and still be waiting for its own flush. The system pages
 * the GPUs could write are marked dirty first (kfd_svm.c 6.1 does not: a GPU's write after
 * `MADV_FREE` is then discarded by reclaim; docs/findings/device-writes-not-dirtied.md).
 */
export async function svmRangeUnmapFromGpus(p: KfdProcess, start: number, end: number): Promise<void> {
  const fences = p.vms.map((vm) => {
    vm.dirtyWritable(start, end);
    vm.clearRange(start, end, 'svm_range_unmap_from_gpus');
    return vm.flushTlbAsync(start, end);
  });
  for (const f of fences) await f.wait();
}

/**
 * `svm_range_evict`. XNACK off: the GPU tables stay, the queues stop (on the first eviction of a
 * batch) and the restore worker revalidates later (N7). XNACK on: unmap from the GPUs now; the
 * GPUs fault the pages back in.
 */
async function svmRangeEvict(prange: SvmRange, start: number, end: number): Promise<void> {
  const p = prange.p;
  if (p.hive.xnack || p.destroyed) {
    await svmRangeUnmapFromGpus(p, start, end);
    return;
  }
  prange.invalid++;
  // The queues stop below and the tables stay: what the GPUs wrote is marked dirty now, before
  // reclaim can take the pages for clean.
  for (const vm of p.vms) vm.dirtyWritable(start, end);
  if (++p.evictedRanges === 1) {
    // kgd2kfd_quiesce_mm, then schedule_delayed_work(&svms->restore_work).
    p.quiesceMm();
    p.wq.queueDelayedWork(p.restoreWork, RESTORE_DELAY);
  }
}

/**
 * `svm_range_unmap_from_cpu`: the range is gone from the CPU (munmap, mremap): unmap it from the
 * GPUs now; a range unmapped whole goes to the deferred list, whose worker removes its notifier
 * (the callback may not). Once the release notifier has run, `kfd_lookup_process_by_mm` finds no
 * process and this returns at once: the UNMAPs of `exit_mmap` leave the ranges to
 * `svm_range_list_fini`.
 */
async function svmRangeUnmapFromCpu(prange: SvmRange, start: number, end: number): Promise<void> {
  const p = prange.p;
  if (p.destroyed) return;
  await svmRangeUnmapFromGpus(p, start, end);
  if (start <= prange.begin && end >= prange.end) {
    prange.removed = true;
    p.deferredListAdd(prange);
  }
}

/**
 * `svm_range_cpu_invalidate_pagetables`. RELEASE returns at once without `set_seq`: that
 * invalidation (`mn_itree_release`) changes no CPU entry, and `__mmu_notifier_release` calls
 * `kfd_process_notifier_release` right after it, which destroys the queues before `exit_mmap`
 * unmaps anything; that UNMAP still comes through here (N5). Everything else,
 * MIGRATE included, takes the range lock, moves the sequence and unmaps or evicts. The kernel's
 * callback sleeps whatever the range says; this one returns false when it may not sleep.
 */
export const svmRangeMnOps: MmuIntervalNotifierOps = {
  async invalidate(mni, range, curSeq) {
    if (range.event === MMU_NOTIFY_RELEASE) return true;
    if (!mmuNotifierRangeBlockable(range)) return false;
    const prange = mni as SvmRange;
    const start = Math.max(prange.begin, range.start);
    const end = Math.min(prange.end, range.end);
    await prange.lock.lock();
    mmuIntervalSetSeq(mni, curSeq);
    if (prange.listed && !prange.removed) {
      if (range.event === MMU_NOTIFY_UNMAP) await svmRangeUnmapFromCpu(prange, start, end);
      else await svmRangeEvict(prange, start, end);
    }
    prange.lock.unlock();
    return true;
  },
};

/**
 * `amdgpu_hmm_range_get_pages` with the mmap lock held by the caller: `read_begin` and
 * `hmm_range_fault` until no collision, `-EAGAIN` after the timeout. The sequence is checked
 * later, under the range lock (`amdgpu_hmm_range_valid`).
 */
async function amdgpuHmmRangeGetPages(range: HmmRange): Promise<number> {
  const k = range.notifier.mm?.kernel;
  if (k === undefined) return -EFAULT;
  const timeout = k.jiffies + HMM_RANGE_DEFAULT_TIMEOUT;
  for (;;) {
    range.notifierSeq = await mmuIntervalReadBegin(range.notifier);
    const r = await hmmRangeFault(range);
    if (r !== -EBUSY) return r;
    if (k.jiffies > timeout) return -EAGAIN;
  }
}

/**
 * Maps `[start, end)` (inside one VMA) of `prange` on the GPUs `gpus`: get the pages with the hive
 * as `dev_private_owner`, then under the range lock, only if the sequence still holds, write the
 * GPU entries (`svm_range_map_to_gpus`). With XNACK off the GPU TLBs may still hold the entries
 * of before the eviction: they are flushed too.
 */
async function svmRangeMapVma(prange: SvmRange, start: number, end: number, writable: boolean, gpus: readonly number[]): Promise<number> {
  const p = prange.p;
  const k = p.kernel;
  const n = (end - start) / k.pageSize;
  let owner: unknown = p.hive.pgmapOwner;
  for (;;) {
    const range: HmmRange = {
      notifier: prange,
      notifierSeq: 0,
      start,
      end,
      hmmPfns: new Array<number>(n).fill(0),
      defaultFlags: HMM_PFN_REQ_FAULT | (writable ? HMM_PFN_REQ_WRITE : 0),
      pfnFlagsMask: 0,
      devPrivateOwner: owner,
    };
    const r = await amdgpuHmmRangeGetPages(range);
    if (r !== 0) return r;
    await prange.lock.lock();
    if (mmuIntervalReadRetry(prange, range.notifierSeq) || prange.removed || p.destroyed) {
      prange.lock.unlock();
      return -EAGAIN;
    }
    // A read-only VRAM page cannot take the writes the VMA allows: fault it back as a foreign page.
    const readOnly = writable && Array.from({ length: n }, (_, i) => range.hmmPfns[i] as number).some((e) => (e & HMM_PFN_WRITE) === 0);
    if (readOnly && owner !== null) {
      prange.lock.unlock();
      owner = null;
      continue;
    }
    const fences = [];
    for (const g of gpus) {
      const vm = p.vms[g];
      if (vm === undefined) continue;
      for (let i = 0; i < n; i++) {
        const e = range.hmmPfns[i] as number;
        if ((e & HMM_PFN_VALID) === 0) continue;
        vm.setPte(start + i * k.pageSize, hmmPfnToPage(k, e), { write: (e & HMM_PFN_WRITE) !== 0 }, 'svm_range_map_to_gpus');
      }
      if (!p.hive.xnack) fences.push(vm.flushTlbAsync(start, end));
    }
    for (const f of fences) await f.wait();
    prange.lock.unlock();
    return 0;
  }
}

/**
 * `svm_range_validate_and_map` of `[start, end)` of `prange` on `gpus`, VMA by VMA; the caller
 * holds the mmap read lock. A part with no readable VMA is unmapped from the GPUs (the kernel
 * does so for PROT_NONE). A part the CPU cannot fault in fails the call if it meets `required`
 * (the page a GPU faulted on, the range a prefetch asked for); any other part is unmapped and
 * skipped, so that the restore worker never spins on it. The kernel splits a range the CPU
 * partly unmapped; this one keeps it and skips the hole the same way.
 */
export async function svmRangeValidateAndMap(
  prange: SvmRange,
  start: number,
  end: number,
  gpus: readonly number[],
  required: readonly [number, number] | null,
): Promise<number> {
  const mm = prange.p.mm;
  for (let addr = start; addr < end; ) {
    const vma = mm.findVma(addr);
    let next = end;
    if (vma !== undefined) next = Math.min(vma.end, end);
    else for (const v of mm.vmasIn(addr, end)) next = Math.min(next, Math.max(v.start, addr + mm.pageSize));
    let r = vma?.readable ? await svmRangeMapVma(prange, addr, next, vma.writable, gpus) : -EFAULT;
    const needed = required !== null && addr < required[1] && next > required[0];
    if (r === -EFAULT && !needed) {
      await prange.lock.lock();
      await svmRangeUnmapFromGpus(prange.p, addr, next);
      prange.lock.unlock();
      r = 0;
    }
    if (r !== 0) return r;
    addr = next;
  }
  return 0;
}
