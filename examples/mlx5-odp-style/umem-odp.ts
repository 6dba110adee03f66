/**
 * `struct ib_umem_odp` (drivers/infiniband/core/umem_odp.c) and its invalidate callback
 * (`mlx5_ib_invalidate_range`, drivers/infiniband/hw/mlx5/odp.c): on-demand paging of one piece of
 * an MR. The NIC reaches system memory through DMA mappings and its translation table (MTT);
 * `umem_mutex` orders the invalidation against the page-fault path, which programs the MTT only
 * after `mmu_interval_read_retry` under that same mutex.
 */
import {
  EBUSY,
  EFAULT,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToPage,
  hmmRangeFault,
  type Kernel,
  MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  type Mutex,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  type Page,
} from '@hmmlab/core';
import { type DeviceVm, HMM_RANGE_DEFAULT_TIMEOUT, SharedCell } from '@hmmlab/harness';

/** `struct ib_umem_odp` of `[begin, end)`, an interval notifier itself (`container_of`). */
export class IbUmemOdp extends MmuIntervalNotifier {
  readonly kernel: Kernel;
  /** The NIC's translation of the MR (its MTT and the on-chip cache of it). */
  readonly vm: DeviceVm;
  readonly begin: number;
  readonly end: number;
  /** `umem_odp->umem_mutex`. */
  readonly umemMutex: Mutex;
  /** `umem_odp->pfn_list`: the hmm pfn of every page the NIC may use, 0 if none. */
  readonly pfnList: number[];
  /** The page DMA-mapped for each index (`dma_list`). */
  readonly dmaList: (Page | null)[];
  /**
   * `umem_odp->npages` (pages currently DMA-mapped, which the callback's N3 shortcut reads) and
   * whether the MR is being destroyed: shared by the callback, the fault path and teardown, only
   * under `umem_mutex`.
   */
  private readonly shared: { readonly npages: SharedCell<number>; readonly dying: SharedCell<boolean> };

  constructor(vm: DeviceVm, begin: number, end: number) {
    super(`umem_odp 0x${begin.toString(16)}`);
    this.kernel = vm.device.kernel;
    this.vm = vm;
    this.begin = begin;
    this.end = end;
    this.umemMutex = this.kernel.mutex(`umem_odp 0x${begin.toString(16)} umem_mutex`);
    this.shared = {
      npages: new SharedCell(this.kernel, `umem_odp 0x${begin.toString(16)} npages`, 0),
      dying: new SharedCell(this.kernel, `umem_odp 0x${begin.toString(16)} dying`, false),
    };
    const n = (end - begin) / this.kernel.pageSize;
    this.pfnList = new Array<number>(n).fill(0);
    this.dmaList = new Array<Page | null>(n).fill(null);
  }

  /** `umem_odp->npages`: pages currently DMA-mapped. */
  get npages(): number {
    return this.shared.npages.get();
  }
  set npages(v: number) {
    this.shared.npages.set(v);
  }

  /** The MR is being destroyed: nothing is mapped any more. */
  get dying(): boolean {
    return this.shared.dying.get();
  }
  set dying(v: boolean) {
    this.shared.dying.set(v);
  }

  /** Index of the page at `va`. */
  index(va: number): number {
    return Math.floor((va - this.begin) / this.kernel.pageSize);
  }
}

/**
 * `mlx5r_umr_update_xlt(MLX5_IB_UPD_XLT_ZAP)` of every mapped page of `[start, end)`, waiting for
 * the UMR to complete (the NIC drops its cached translations with it), then
 * `ib_umem_odp_unmap_dma_pages`: "the device will not access the memory" any more, so the DMA
 * mappings go. With `umem_mutex` held.
 */
export async function mlx5ZapAndUnmap(umem: IbUmemOdp, start: number, end: number): Promise<void> {
  const ps = umem.kernel.pageSize;
  let zapped = false;
  for (let va = start; va < end; va += ps) {
    if (((umem.pfnList[umem.index(va)] as number) & HMM_PFN_VALID) === 0) continue;
    umem.vm.clearPte(va, 'mlx5r_umr_update_xlt zap');
    zapped = true;
  }
  if (zapped) await umem.vm.flushTlbAsync(start, end).wait();
  for (let va = start; va < end; va += ps) {
    const i = umem.index(va);
    const page = umem.dmaList[i];
    if (((umem.pfnList[i] as number) & HMM_PFN_VALID) === 0 || page === null || page === undefined) continue;
    umem.vm.device.dmaUnmap(page);
    if (((umem.pfnList[i] as number) & HMM_PFN_WRITE) !== 0) umem.vm.device.kernel.pages.setPageDirty(page);
    umem.pfnList[i] = 0;
    umem.dmaList[i] = null;
    umem.npages--;
  }
}

/**
 * `mlx5_ib_invalidate_range`: false when it may not sleep; otherwise under `umem_mutex` the
 * sequence moves, and unless nothing is mapped (`npages == 0`, N3: a mapping is only made under
 * this mutex after `read_retry`) the NIC's translations and DMA mappings of the range go. Every
 * event is handled alike, RELEASE included.
 */
export const mlx5MniOps: MmuIntervalNotifierOps = {
  async invalidate(mni, range, curSeq) {
    if (!mmuNotifierRangeBlockable(range)) return false;
    const umem = mni as IbUmemOdp;
    await umem.umemMutex.lock();
    mmuIntervalSetSeq(mni, curSeq);
    if (umem.npages > 0) await mlx5ZapAndUnmap(umem, Math.max(range.start, umem.begin), Math.min(range.end, umem.end));
    umem.umemMutex.unlock();
    return true;
  },
};

/** `ib_umem_odp_map_dma_single_page`: DMA-maps the page of index `i` unless it already is. */
function mapDmaSinglePage(umem: IbUmemOdp, i: number, e: number): void {
  const page = hmmPfnToPage(umem.kernel, e);
  const old = umem.dmaList[i];
  if (old !== page) {
    if (old !== null && old !== undefined) {
      umem.vm.device.dmaUnmap(old);
      umem.npages--;
    }
    umem.vm.device.dmaMap(page, (e & HMM_PFN_WRITE) !== 0);
    umem.dmaList[i] = page;
    umem.npages++;
  }
  umem.pfnList[i] = e;
}

/**
 * `ib_umem_odp_map_dma_and_lock` of `[start, end)`: the §4.5 loop with no `dev_private_owner`,
 * so a device-private page of any GPU is faulted back to system memory first (B7 c). On success
 * it returns 0 with `umem_mutex` held and the sequence still valid; the caller programs the NIC
 * and unlocks. The caller holds an mm reference (the kernel takes one here and drops it with
 * `mmput_async`, so that a last put never runs exit_mmap under the mutex).
 */
export async function ibUmemOdpMapDmaAndLock(umem: IbUmemOdp, start: number, end: number, write: boolean, fault: boolean): Promise<number> {
  const k = umem.kernel;
  const n = (end - start) / k.pageSize;
  const range: HmmRange = {
    notifier: umem,
    notifierSeq: 0,
    start,
    end,
    hmmPfns: new Array<number>(n).fill(0),
    defaultFlags: fault ? HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0) : 0,
    pfnFlagsMask: 0,
    devPrivateOwner: null,
  };
  const timeout = k.jiffies + HMM_RANGE_DEFAULT_TIMEOUT;
  for (;;) {
    range.notifierSeq = await mmuIntervalReadBegin(umem);
    await umem.vm.mm.mmapLock.downRead();
    const r = await hmmRangeFault(range);
    umem.vm.mm.mmapLock.upRead();
    if (r === -EBUSY && k.jiffies <= timeout) continue;
    if (r !== 0) return r;
    await umem.umemMutex.lock();
    if (umem.dying) {
      umem.umemMutex.unlock();
      return -EFAULT;
    }
    if (!mmuIntervalReadRetry(umem, range.notifierSeq)) break;
    umem.umemMutex.unlock();
  }
  for (let i = 0; i < n; i++) {
    const e = range.hmmPfns[i] as number;
    if ((e & HMM_PFN_VALID) !== 0) mapDmaSinglePage(umem, umem.index(start) + i, e);
  }
  return 0;
}
