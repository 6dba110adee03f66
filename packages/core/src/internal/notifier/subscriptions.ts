/**
 * `struct mmu_notifier_subscriptions` (mm/mmu_notifier.c): the per-mm notifier state, created on
 * the first registration.
 */
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

  constructor(sched: Scheduler, mmName: string) {
    this.wq = new WaitQueue(sched, `${mmName} notifier seq`);
  }

  /** `mn_itree_is_invalidating`. */
  isInvalidating(): boolean {
    return this.invalidateSeq % 2 === 1;
  }

  /** `mn_itree_inv_end`: the last concurrent invalidation makes the seq even again. */
  invEnd(): void {
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
