/**
 * The canonical driver fault loop (§4.5 of the kernel notes; lib/test_hmm.c `dmirror_range_fault`,
 * nouveau `nouveau_range_fault`, `ib_umem_odp_map_dma_and_lock`, `amdgpu_hmm_range_get_pages`):
 * read_begin → hmm_range_fault under the mmap read lock → driver lock → read_retry → commit.
 * Drivers may use it or write the steps themselves: the bugs authors look for live in those steps.
 */
import { EBUSY, type HmmRange, hmmRangeFault, type Mm, mmuIntervalReadBegin, mmuIntervalReadRetry } from '@hmmlab/core';

/**
 * `HMM_RANGE_DEFAULT_TIMEOUT` (1000 ms in include/linux/hmm.h), in ticks of model time. A tick is
 * one scheduler step, a page's worth of work (a fault, an entry changed), so a millisecond is
 * many of them; the bound is set so that no single pass of a retry loop that makes progress can
 * use it up. The largest pass a scenario makes, `hmm_range_fault` over a 512-page THP region with
 * a copy-on-write fault per page after `fork`, takes about 1,600 steps, where the kernel takes
 * well under a millisecond (`hmm_vma_fault` faults the whole walk's range, then restarts it): a
 * loop still retrying after 10,000 ticks has retried many times over, the livelock the bound is
 * there to catch.
 */
export const HMM_RANGE_DEFAULT_TIMEOUT = 10_000;

/** Arguments of {@link hmmRangeFaultLoop}. */
export interface RangeFaultLoopArgs {
  /** The address space, whose mmap lock the loop takes for reading. */
  readonly mm: Mm;
  /** The range to fault; `notifierSeq` is set by the loop. */
  readonly range: HmmRange;
  /** Takes the driver lock the invalidate callback holds around `mmuIntervalSetSeq`. */
  lock(): Promise<void>;
  /** Releases it. */
  unlock(): void;
  /**
   * Programs the device from `range.hmmPfns`; called with the lock held and the seq still valid.
   * May return a negative errno (for instance `-EFAULT` when a write fault got a read-only pfn,
   * as `dmirror_do_fault` does), which the loop returns.
   */
  commit(range: HmmRange): unknown;
  /** Give up with `-EBUSY` after this many ticks. @defaultValue HMM_RANGE_DEFAULT_TIMEOUT */
  readonly timeout?: number;
}

/**
 * Runs the loop until `commit` ran under the lock with an unchanged seq. Returns 0, `-EBUSY` on
 * timeout, or the error `hmmRangeFault` returned. Its return after the unlock is a preemption
 * point: another task may run before the caller's next step.
 */
export async function hmmRangeFaultLoop(args: RangeFaultLoopArgs): Promise<number> {
  const { mm, range } = args;
  const k = mm.kernel;
  const deadline = k.jiffies + (args.timeout ?? HMM_RANGE_DEFAULT_TIMEOUT);
  for (;;) {
    if (k.jiffies > deadline) {
      k.warn(
        'retry-timeout',
        `hmm_range_fault loop on [0x${range.start.toString(16)}, 0x${range.end.toString(16)}) gave up after ${args.timeout ?? HMM_RANGE_DEFAULT_TIMEOUT} ticks`,
      );
      return -EBUSY;
    }
    range.notifierSeq = await mmuIntervalReadBegin(range.notifier);
    await mm.mmapLock.downRead();
    const ret = await hmmRangeFault(range);
    mm.mmapLock.upRead();
    if (ret === -EBUSY) continue;
    if (ret !== 0) return ret;
    await args.lock();
    if (mmuIntervalReadRetry(range.notifier, range.notifierSeq)) {
      args.unlock();
      continue;
    }
    const r = await args.commit(range);
    args.unlock();
    // The caller goes on with the lock dropped, where another CPU may take it first: an
    // invalidation can run before the caller's next step (what it records of the fault after
    // the unlock, as a count of mapped pages, comes after that invalidation's decision).
    await k.yieldPoint();
    return typeof r === 'number' ? r : 0;
  }
}
