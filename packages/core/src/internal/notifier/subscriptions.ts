/**
 * `struct mmu_notifier_subscriptions` (mm/mmu_notifier.c): the per-mm notifier state, created on
 * the first registration.
 */
import { hbAcquire, hbRelease, SyncClock } from '../sched/happens-before.js';
import type { Scheduler } from '../sched/scheduler.js';
import { WaitQueue } from '../sched/wait-queue.js';
import type { MmuIntervalNotifier } from './interval-notifier.js';
import { IntervalTree } from './interval-tree.js';
import type { MmuNotifier } from './mmu-notifier.js';

/** The per-mm notifier state. */
export class MmuNotifierSubscriptions {
  /** Classic subscriptions (the hlist), most recent first as `hlist_add_head` leaves them. */
  readonly list: MmuNotifier[] = [];
  hasItree = false;
  /** The collision-retry sequence: even when idle, odd while an interval is being invalidated. */
  invalidateSeq = 2;
  activeInvalidateRanges = 0;
  readonly itree = new IntervalTree<MmuIntervalNotifier>();
  readonly wq: WaitQueue;
  /** Interval notifiers whose insert or removal waits for the last `inv_end`. */
  readonly deferredList: MmuIntervalNotifier[] = [];

  private readonly sched: Scheduler;
  /** `subscriptions->lock`, for happens-before only (the model needs no spinlock to be atomic). */
  private readonly lockClock = new SyncClock();

  constructor(sched: Scheduler, mmName: string) {
    this.sched = sched;
    this.wq = new WaitQueue(sched, `${mmName} notifier seq`);
  }

  /**
   * A section under `subscriptions->lock` (mm/mmu_notifier.c: mn_itree_inv_start_range,
   * mn_itree_inv_end and mmu_interval_read_begin each take it): orders them for happens-before.
   */
  lockedSection(): void {
    hbAcquire(this.sched, this.lockClock);
    hbRelease(this.sched, this.lockClock);
  }

  /** `mn_itree_is_invalidating`. */
  isInvalidating(): boolean {
    return this.invalidateSeq % 2 === 1;
  }

  /** `mn_itree_inv_end`: the last concurrent invalidation makes the seq even again. */
  invEnd(): void {
    this.lockedSection();
    if (--this.activeInvalidateRanges !== 0 || !this.isInvalidating()) return;
    this.invalidateSeq++;
    // Deferred adds and removes, applied in the order hlist_for_each_entry walks them.
    for (const sub of this.deferredList) {
      if (sub.inTree) {
        this.itree.remove(sub);
        sub.inTree = false;
      } else {
        this.itree.insert(sub);
        sub.inTree = true;
      }
      sub.deferred = false;
    }
    this.deferredList.length = 0;
    this.wq.wakeUpAll();
  }
}
