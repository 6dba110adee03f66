/**
 * E2 ("mm/mmu_notifiers: ensure range_end() is paired with range_start()", c2655835fd8c): a
 * KVM-style secondary MMU counts the invalidations in progress (`mmu_invalidate_in_progress`) in
 * `invalidate_range_start` and uncounts them in `invalidate_range_end`; its fault path retries
 * while the count is raised. Its non-blockable start counts, then gives up with `-EAGAIN`. Since
 * c2655835fd8c the core calls `end` for the other subscribers only, never for the one that failed
 * (so "subscribers that can fail start may not implement end"): the count stays raised and the
 * fault path retries forever. Before that commit the core dropped every `end` after any failure,
 * the same symptom in subscribers that did not fail.
 */
import {
  EAGAIN,
  EFAULT,
  handleMmFault,
  MmuNotifier,
  type MmuNotifierRange,
  mmuNotifierRangeBlockable,
  mmuNotifierRegister,
  mmuNotifierUnregister,
  type Page,
  pteAccessible,
  ptePfn,
  pteWrite,
  ULONG_MAX,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
} from '@hmmlab/core';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

/** A KVM-style mirror: a classic notifier with start and end, and `mmu_invalidate_retry` in the fault path. */
export class CountingSecondaryMmu extends SvmMirror {
  /** `kvm->mmu_invalidate_in_progress`. */
  inProgress = 0;
  /** `kvm->mmu_invalidate_seq`. */
  invalidateSeq = 0;
  private readonly mn = new MmuNotifier(
    {
      invalidateRangeStart: (_sub, range) => this.rangeStart(range),
      invalidateRangeEnd: () => this.rangeEnd(),
      release: () => this.release(),
    },
    `${this.device.name} kvm`,
  );

  /** `kvm->mmu_lock`, a spinlock: never held across a sleep, so taking it never waits here. */
  private readonly mmuLock = this.kernel.spinlock(`${this.device.name} kvm mmu_lock`);

  /** `KVM_MMU_LOCK`. */
  private spinLock(): void {
    this.mmuLock.lock();
  }

  override async open(): Promise<void> {
    await mmuNotifierRegister(this.mn, this.mm);
  }

  /** `kvm_destroy_vm`: the shadow pages go (`kvm_flush_shadow_all`, as the notifier's release does), then the notifier. */
  override async unbind(): Promise<void> {
    await this.stopFaults();
    this.spinLock();
    this.revoke(0, ULONG_MAX);
    this.detached = true;
    this.mmuLock.unlock();
    if (this.mn.mm !== null) await mmuNotifierUnregister(this.mn, this.mm);
  }

  /**
   * `kvm_mmu_notifier_release` (virt/kvm/kvm_main.c): the address space is torn down, the shadow
   * pages go (`kvm_flush_shadow_all`) before `__mmu_notifier_release` unhashes the notifier. The
   * sequence moves too: the unmap of `exit_mmap` that follows never reaches the unhashed notifier,
   * so a device fault that looked a page up before the release must not map it after (KVM has no
   * such fault: its vCPUs are threads of the exiting process; a device runs on).
   */
  release(): void {
    this.spinLock();
    this.revoke(0, ULONG_MAX);
    this.invalidateSeq++;
    this.mmuLock.unlock();
  }

  /** kvm_mmu_notifier_invalidate_range_start, under `kvm->mmu_lock`, a spinlock: no preemption point inside. */
  rangeStart(range: MmuNotifierRange): number {
    this.spinLock();
    this.inProgress++;
    // E2: counted, then given up; the count stays raised, as no end will come for this start.
    const failed = this.cannotFlushNow(range);
    if (!failed) this.revoke(range.start, range.end);
    this.mmuLock.unlock();
    return failed ? -EAGAIN : 0;
  }

  /** E2: "the secondary TLB flush may sleep": a non-blockable start gives up. The fix flushes without sleeping, as KVM does. */
  cannotFlushNow(range: MmuNotifierRange): boolean {
    return !mmuNotifierRangeBlockable(range) && this.vm.pt.size > 0;
  }

  /** kvm_mmu_notifier_invalidate_range_end, under `kvm->mmu_lock`, a spinlock: no preemption point inside. */
  rangeEnd(): void {
    this.spinLock();
    this.invalidateSeq++;
    this.inProgress--;
    this.mmuLock.unlock();
  }

  /** hva_to_pfn: the page at `va`, faulted in and referenced (`get_user_pages`), or null. */
  private async hvaToPfn(va: number, write: boolean): Promise<Page | null> {
    const mm = this.mm;
    const k = this.kernel;
    await mm.mmapLock.downRead();
    try {
      for (let tries = 0; tries < 4; tries++) {
        const e = mm.pte(va);
        // follow_page: a present entry the access is allowed through (PROT_NONE entries are not).
        if (pteAccessible(e) && (!write || pteWrite(e))) {
          const page = k.pages.page(ptePfn(e));
          k.pages.getPage(page);
          return page;
        }
        const vma = mm.findVma(va);
        if (vma === undefined || (await handleMmFault(mm, vma, va, write)) & (VM_FAULT_SIGSEGV | VM_FAULT_SIGBUS)) return null;
      }
      return null;
    } finally {
      mm.mmapLock.upRead();
    }
  }

  /** The secondary MMU's fault, page by page: snapshot the sequence, get the pfn, map it unless an invalidation is or was in progress. */
  override async faultRange(start: number, end: number, write: boolean): Promise<number> {
    for (let va = start; va < end; va += this.kernel.pageSize) {
      const seq = this.invalidateSeq;
      const page = await this.hvaToPfn(va, write);
      if (page === null) return -EFAULT;
      await this.lock.lock();
      this.spinLock();
      // mmu_invalidate_retry: RET_PF_RETRY, and the access is replayed.
      if (this.inProgress === 0 && this.invalidateSeq === seq) this.vm.setPte(va, page, { write });
      this.mmuLock.unlock();
      this.lock.unlock();
      this.kernel.pages.putPage(page);
    }
    return 0;
  }
}

export default svmDriver({
  name: 'e2-unpaired-range-end',
  description: 'E2: a counting (KVM-style) subscriber whose failed start is never paired with an end',
  memoryPages: 0,
  mirror: CountingSecondaryMmu,
});
