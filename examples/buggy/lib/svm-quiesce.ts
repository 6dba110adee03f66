/**
 * The evict-and-restore design of amdkfd without XNACK (kfd_svm.c svm_range_evict, the KFD
 * userptr restore worker): an invalidation stops the device's queues instead of zapping its page
 * table, and a restore worker revalidates every mapping with `hmm_range_fault`, then, under `L`
 * and only if the sequence still holds, rewrites the entries and resumes the queues
 * (bug-classes N7).
 */
import {
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToPage,
  hmmRangeFault,
  type MmuNotifierRange,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  Work,
} from '@hmmlab/core';
import { SvmMirror } from './svm-mirror.js';

/** What the CPU maps now at each virtual page the device maps (0: nothing it may use). */
export type Snapshot = Map<number, number>;

/** A mirror that quiesces on invalidation and restores in a worker. */
export class QuiesceMirror extends SvmMirror {
  private readonly wq = this.kernel.workqueue(`${this.device.name} restore`);
  private readonly restoreWork = new Work(`${this.device.name} restore`, () => this.restore());
  /** The file is closing: restores stop (set before the restore work is cancelled). */
  private closed = false;

  /**
   * svm_range_evict: stop the queues, keep the page table, and schedule the restore. What the
   * device wrote is marked dirty, as the table stays.
   */
  override invalidateLocked(range: MmuNotifierRange): void {
    this.vm.dirtyWritable(range.start, range.end);
    this.device.quiesce();
    this.wq.queueWork(this.restoreWork);
  }

  /**
   * Closing the file (svm_range_list_fini, kfd_process_destroy_queues): the device memory comes back, restores stop, the one
   * running is waited for, the queues are destroyed with every translation, the notifier goes,
   * and the work its last callbacks queued is waited for before the page table is freed.
   */
  override async unbind(): Promise<void> {
    await this.stopFaults();
    await this.evict();
    this.closed = true;
    await this.wq.cancelSync(this.restoreWork);
    await this.destroyQueues();
    await mmuIntervalNotifierRemove(this.notifier);
    await this.wq.cancelSync(this.restoreWork);
    // A callback before the removal may have stopped the queues again; nothing is mapped now.
    await this.destroyQueues();
    await this.revokeAllAndDetach();
  }

  /** The restore worker: snapshot, then commit, until a commit finds the sequence unchanged. */
  async restore(): Promise<void> {
    for (;;) {
      // The file is closing: its unbind destroys the queues.
      if (this.closed) return;
      // The process is gone: nothing to restore, its queues are destroyed.
      if (this.mm.users <= 0) return this.destroyQueues();
      const seq = await mmuIntervalReadBegin(this.notifier);
      const snap = await this.snapshot(seq);
      if (snap !== null && (await this.commitRestore(snap, seq))) return;
    }
  }

  /** `hmm_range_fault` without faulting, page by page, over what the device maps; null if the sequence moved. */
  async snapshot(seq: number): Promise<Snapshot | null> {
    const ps = this.kernel.pageSize;
    const snap: Snapshot = new Map();
    await this.mm.mmapLock.downRead();
    try {
      for (const vpn of [...this.vm.pt.keys()].sort((a, b) => a - b)) {
        const range: HmmRange = { ...this.rangeFor(vpn * ps, (vpn + 1) * ps, false), defaultFlags: 0, notifierSeq: seq };
        if ((await hmmRangeFault(range)) !== 0) return null;
        snap.set(vpn, range.hmmPfns[0] as number);
      }
    } finally {
      this.mm.mmapLock.upRead();
    }
    return snap;
  }

  /** Under `L`: if the sequence still holds, rewrite the entries and resume (svm_range_restore_work). */
  async commitRestore(snap: Snapshot, seq: number): Promise<boolean> {
    await this.lock.lock();
    const valid = !mmuIntervalReadRetry(this.notifier, seq);
    if (valid) this.applyAndResume(snap);
    this.lock.unlock();
    return valid;
  }

  /** Rewrites every entry from the snapshot, flushes the TLB and resumes the queues. */
  applyAndResume(snap: Snapshot): void {
    const ps = this.kernel.pageSize;
    for (const [vpn, e] of snap) {
      if ((e & HMM_PFN_VALID) === 0) this.vm.clearPte(vpn * ps, 'restore');
      else this.vm.setPte(vpn * ps, hmmPfnToPage(this.kernel, e), { write: (e & HMM_PFN_WRITE) !== 0 }, 'restore');
    }
    this.vm.flushTlb(0, Number.MAX_SAFE_INTEGER);
    this.device.resume();
  }
}
