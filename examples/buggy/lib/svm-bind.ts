/**
 * A mirror whose device entries are written by bind jobs, as xe's are: the fault path decides the
 * entries under the notifier lock, after `mmu_interval_read_retry`, and hands them to a job that
 * writes them; the job's fence joins the VM's reservation object, and the invalidation waits for
 * every such fence before zapping (`xe_vm_invalidate_vma`, `dma_resv_wait_timeout`). A fence is a
 * completion. The fault returns once its job's fence is signalled, so `unbind`, which waits for the
 * faults in flight, is ordered after every job only if each fault's exit is ordered before the
 * last one's: the count of faults in flight is an `atomic_t` (svm-mirror.ts).
 */
import {
  type Completion,
  EFAULT,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnToPage,
  MMU_NOTIFY_MIGRATE,
  type Mm,
  type MmuIntervalNotifier,
  type MmuNotifierRange,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  type Page,
  Work,
  type Workqueue,
} from '@hmmlab/core';
import { type Device, SharedCell } from '@hmmlab/harness';
import { type SvmCommit, SvmMirror, type SvmPolicy } from './svm-mirror.js';

interface BindJob {
  readonly entries: readonly [number, Page, boolean][];
  readonly fence: Completion;
}

/** An {@link SvmMirror} whose faults hand their entries to bind jobs (see the file comment). */
export class BindMirror extends SvmMirror {
  /** Signal the fence before the entries are written (the bug). */
  protected fenceFirst = false;
  /** Without sleeping: give up if any bind may still run ('bail'), or `try_wait_for_completion` on each fence ('trywait'). */
  protected nonblock: 'bail' | 'trywait' = 'bail';
  private readonly bindWq: Workqueue;
  /** Bind jobs whose fences are in the VM's reservation object: appended and pruned under L. */
  private readonly pending: SharedCell<readonly BindJob[]>;
  private nextJob = 0;

  constructor(device: Device, mm: Mm, policy: Partial<SvmPolicy> = {}) {
    super(device, mm, policy);
    this.bindWq = this.kernel.workqueue(`${device.name} bind`);
    this.pending = new SharedCell<readonly BindJob[]>(this.kernel, `${device.name} bind fences`, []);
  }

  /** The bind job: writes the entries, signals its fence. */
  private runJob(job: BindJob): void {
    if (this.fenceFirst) job.fence.completeAll();
    for (const [va, page, write] of job.entries) if (!this.detached) this.vm.setPte(va, page, { write }, 'bind job');
    if (!this.fenceFirst) job.fence.completeAll();
  }

  /** With L held, sequence valid: the entries go to a bind job, whose fence joins the reservation object. */
  private submit(c: SvmCommit): BindJob | number {
    const ps = this.kernel.pageSize;
    const entries: [number, Page, boolean][] = [];
    for (let i = 0, va = c.range.start; va < c.range.end; i++, va += ps) {
      const e = c.range.hmmPfns[i] as number;
      if ((e & HMM_PFN_VALID) === 0) continue;
      const writable = (e & HMM_PFN_WRITE) !== 0;
      if (c.write && !writable) return -EFAULT;
      entries.push([va, hmmPfnToPage(this.kernel, e), writable]);
    }
    const job: BindJob = { entries, fence: this.kernel.completion(`${this.device.name} bind fence ${this.nextJob++}`) };
    this.pending.set([...this.pending.get(), job]);
    this.bindWq.queueWork(new Work(`${this.device.name} bind job`, () => this.runJob(job)));
    return job;
  }

  override async faultRange(start: number, end: number, write: boolean): Promise<number> {
    const range = this.rangeFor(start, end, write);
    let job: BindJob | null = null;
    const r = await this.faultLoop(range, () => {
      const j = this.submit({ range, write });
      if (typeof j === 'number') return j;
      job = j;
      return 0;
    });
    if (r === 0 && job !== null) await (job as BindJob).fence.waitForCompletion();
    return r;
  }

  /** The callback: under L, set_seq, wait for every bind fence (not when non-blockable), then zap. */
  override async invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    if (this.skipsExclusive(range)) return true;
    if (!(await this.lockFor(range))) return false;
    mmuIntervalSetSeq(mni, curSeq);
    if (!this.isOwn(range, MMU_NOTIFY_MIGRATE)) this.foreign++;
    const jobs = this.pending.get();
    if (!mmuNotifierRangeBlockable(range)) {
      if (this.nonblock === 'bail' ? jobs.length > 0 : jobs.some((j) => !j.fence.tryWaitForCompletion())) {
        this.lock.unlock();
        return false;
      }
    } else {
      for (const j of jobs) await j.fence.waitForCompletion();
    }
    this.pending.set([]);
    this.invalidateLocked(range);
    this.lock.unlock();
    return true;
  }
}
