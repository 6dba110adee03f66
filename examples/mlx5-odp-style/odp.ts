/**
 * An implicit ODP MR (drivers/infiniband/hw/mlx5/odp.c): one memory region over the whole
 * address space of the process, backed by child MRs of `MLX5_IMR_MTT_ENTRIES` pages, each with
 * its own `ib_umem_odp` and interval notifier, created on the first fault in their span.
 */
import {
  type Atomic,
  EFAULT,
  EINVAL,
  HMM_PFN_WRITE,
  type Kernel,
  type Mm,
  type Mutex,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  type WaitQueue,
} from '@hmmlab/core';
import { type Binding, type Device, type DeviceFault, type DeviceVm, SharedMap } from '@hmmlab/harness';
import { IbUmemOdp, ibUmemOdpMapDmaAndLock, mlx5MniOps, mlx5ZapAndUnmap } from './umem-odp.js';

/** Pages per child MR (`MLX5_IMR_MTT_ENTRIES`, scaled down). */
const MLX5_IMR_MTT_PAGES = 8;

/** `struct mlx5_ib_mr` of an implicit ODP MR, with its children: the binding the fuzzer drives. */
export class Mlx5ImplicitMr implements Binding {
  readonly kernel: Kernel;
  readonly dev: Device;
  readonly mm: Mm;
  /** The NIC's translation of the MR. */
  readonly vm: DeviceVm;
  /**
   * `mr->implicit_children`, by child index: read and written by every fault that looks up or
   * adds a child, and by the deregistration, all under {@link Mlx5ImplicitMr.childrenLock}.
   */
  readonly children: SharedMap<number, IbUmemOdp>;
  /** Protects `children` (the xarray lock). */
  private readonly childrenLock: Mutex;
  private dead = false;
  /**
   * The MR's entry in `dev->odp_mkeys` and its `mmkey->usecount`: a NIC page fault finds the MR
   * there and holds it while it runs (`pagefault_single_data_segment`), and deregistration
   * erases the entry and waits for the faults in flight (`mlx5r_deref_wait_odp_mkey`) before it
   * tears the children down: the NIC raises faults whether or not the MR is going.
   */
  private registered = true;
  /** `mmkey->usecount` of the faults in flight: `refcount_dec_and_test` orders each fault's work before the waiter's. */
  private readonly faultsInFlight: Atomic;
  private readonly faultsDone: WaitQueue;

  constructor(dev: Device, mm: Mm) {
    this.kernel = dev.kernel;
    this.dev = dev;
    this.mm = mm;
    this.vm = dev.createVm(mm, { fault: (_vm, f) => this.pageFault(f) });
    this.childrenLock = this.kernel.mutex(`mlx5 implicit mr children (mm ${mm.id})`);
    this.faultsDone = this.kernel.waitQueue(`mlx5 odp mkey usecount (mm ${mm.id})`);
    this.faultsInFlight = this.kernel.atomic(`mlx5 odp mkey usecount (mm ${mm.id})`);
    this.children = new SharedMap(this.kernel, `mlx5 implicit mr children (mm ${mm.id})`);
  }

  get vms(): readonly DeviceVm[] {
    return [this.vm];
  }

  /**
   * `implicit_get_child_mr`: the child covering `va`, created with its `ib_umem_odp` and notifier
   * if missing. The notifier is inserted with no lock held; a child that lost the race to another
   * (`xa_cmpxchg`) is dropped again.
   */
  private async getChild(va: number): Promise<IbUmemOdp | null> {
    const size = MLX5_IMR_MTT_PAGES * this.kernel.pageSize;
    const idx = Math.floor(va / size);
    await this.childrenLock.lock();
    const found = this.children.get(idx);
    this.childrenLock.unlock();
    if (found !== undefined || this.dead) return found ?? null;
    const child = new IbUmemOdp(this.vm, idx * size, (idx + 1) * size);
    // ib_umem_odp_alloc_child.
    if ((await mmuIntervalNotifierInsert(child, this.mm, child.begin, size, mlx5MniOps)) !== 0) return null;
    await this.childrenLock.lock();
    const winner = this.children.get(idx) ?? (this.dead ? undefined : child);
    if (winner === child) this.children.set(idx, child);
    this.childrenLock.unlock();
    if (winner !== child) await mmuIntervalNotifierRemove(child);
    return winner ?? null;
  }

  /**
   * `pagefault_real_mr` of `[start, end)` inside one child: map the pages, then with `umem_mutex`
   * still held program the NIC (`mlx5_odp_populate_xlt`) and unlock.
   */
  private async pagefaultRealMr(umem: IbUmemOdp, start: number, end: number, write: boolean): Promise<number> {
    const r = await ibUmemOdpMapDmaAndLock(umem, start, end, write, true);
    if (r !== 0) return r;
    for (let va = start; va < end; va += this.kernel.pageSize) {
      const i = umem.index(va);
      const page = umem.dmaList[i];
      if (page === null || page === undefined) continue;
      this.vm.setPte(va, page, { write: ((umem.pfnList[i] as number) & HMM_PFN_WRITE) !== 0 }, 'mlx5_odp_populate_xlt');
    }
    umem.umemMutex.unlock();
    return 0;
  }

  /** `pagefault_implicit_mr` over `[start, end)`, child by child, with an mm reference held. */
  private async pagefaultImplicitMr(start: number, end: number, write: boolean): Promise<number> {
    if (!this.mm.mmgetNotZero()) return -EFAULT;
    let r = 0;
    for (let va = start; r === 0 && va < end; ) {
      const child = await this.getChild(va);
      if (child === null) {
        r = -EFAULT;
        break;
      }
      const next = Math.min(end, child.end);
      r = await this.pagefaultRealMr(child, va, next, write);
      va = next;
    }
    await this.mm.mmput();
    return r;
  }

  /** `mlx5_ib_page_fault` of one page (an RDMA read, write or atomic that missed), holding the MR's mkey. */
  async pageFault(f: DeviceFault): Promise<number> {
    // xa_load(&dev->odp_mkeys) and refcount_inc(&mmkey->usecount), with nothing in between.
    if (!this.registered) return -EFAULT;
    this.faultsInFlight.inc();
    try {
      const ps = this.kernel.pageSize;
      const start = this.kernel.pageAlignDown(f.va);
      return await this.pagefaultImplicitMr(start, start + ps, f.kind !== 'read');
    } finally {
      // mlx5r_deref_odp_mkey.
      if (this.faultsInFlight.decAndTest()) this.faultsDone.wakeUpAll();
    }
  }

  /** The mkey out of reach of new faults (`xa_erase(&dev->odp_mkeys)`), and those in flight done (`mlx5r_deref_wait_odp_mkey`). */
  private async stopFaults(): Promise<void> {
    this.registered = false;
    await this.faultsDone.waitEvent(() => this.faultsInFlight.read() === 0);
  }

  /** `ibv_advise_mr(IBV_ADVISE_MR_ADVICE_PREFETCH[_WRITE])`: `mlx5_ib_advise_mr_prefetch` of `[start, end)`. */
  prefetch(start: number, end: number, write: boolean): Promise<number> {
    if (start % this.kernel.pageSize !== 0 || end <= start) return Promise.resolve(-EINVAL);
    return this.pagefaultImplicitMr(start, end, write);
  }

  /**
   * `mlx5_ib_dereg_mr`: the mkey out of reach of new faults and the faults in flight done, then
   * `ib_umem_odp_release` for every child: the NIC's translations and DMA mappings go under
   * `umem_mutex`, then the notifier.
   */
  async unbind(): Promise<void> {
    await this.stopFaults();
    await this.childrenLock.lock();
    this.dead = true;
    const children: IbUmemOdp[] = [];
    for (const [idx, umem] of this.children.entries()) {
      children.push(umem);
      this.children.delete(idx);
    }
    this.childrenLock.unlock();
    for (const umem of children) {
      await umem.umemMutex.lock();
      umem.dying = true;
      await mlx5ZapAndUnmap(umem, umem.begin, umem.end);
      umem.umemMutex.unlock();
      await mmuIntervalNotifierRemove(umem);
    }
  }

  toString(): string {
    return `mlx5 implicit odp mr (mm ${this.mm.id})`;
  }
}
