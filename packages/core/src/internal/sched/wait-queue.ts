/**
 * Wait queues and completions (kernel/sched/wait.c, kernel/sched/completion.c).
 */
import { hbAcquire, hbRelease, SyncClock } from './happens-before.js';
import type { Scheduler, Task, Waitable } from './scheduler.js';

/** A `wait_queue_head_t`: tasks sleep on it until a condition holds. */
export class WaitQueue implements Waitable {
  /** Name, for traces and deadlock reports. */
  readonly name: string;
  private waiters: Task[] = [];
  private readonly sched: Scheduler;
  private readonly clock = new SyncClock();

  constructor(sched: Scheduler, name: string) {
    this.sched = sched;
    this.name = name;
  }

  holders(): readonly Task[] {
    return [];
  }

  /** `wait_event`: returns at once if `cond()` holds, else sleeps until a wake-up finds it true. */
  async waitEvent(cond: () => boolean): Promise<void> {
    const s = this.sched;
    while (!cond()) {
      s.mightSleep(`wait_event(${this.name})`);
      this.waiters.push(s.current);
      await s.park('blocked', this);
    }
    // The condition was made true by a waker: what it did before its wake-up happens before.
    hbAcquire(s, this.clock);
  }

  /** `wake_up_all`: every sleeper re-checks its condition. */
  wakeUpAll(): void {
    hbRelease(this.sched, this.clock);
    if (this.waiters.length === 0) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const t of ws) this.sched.wake(t);
  }

  /** Number of sleepers (`waitqueue_active`). */
  get active(): number {
    return this.waiters.length;
  }
}

/**
 * A `struct completion`. `complete` and the tests that find it done (`try_wait_for_completion`,
 * `completion_done`) all take `x->wait.lock` (kernel/sched/completion.c): a test that finds it done
 * is ordered after the `complete` that did it, as a wait that returns is.
 */
export class Completion implements Waitable {
  /** Name, for traces and deadlock reports. */
  readonly name: string;
  private done = 0;
  private readonly wq: WaitQueue;
  private readonly sched: Scheduler;
  private readonly clock = new SyncClock();

  constructor(sched: Scheduler, name: string) {
    this.name = name;
    this.sched = sched;
    this.wq = new WaitQueue(sched, name);
  }

  holders(): readonly Task[] {
    return [];
  }

  /** `wait_for_completion`: sleeps until completed, and consumes one completion. */
  async waitForCompletion(): Promise<void> {
    await this.wq.waitEvent(() => this.done > 0);
    if (this.done !== Number.POSITIVE_INFINITY) this.done--;
  }

  /** `try_wait_for_completion`. */
  tryWaitForCompletion(): boolean {
    if (this.done === 0) return false;
    if (this.done !== Number.POSITIVE_INFINITY) this.done--;
    hbAcquire(this.sched, this.clock);
    return true;
  }

  /** `complete`: wakes one waiter. */
  complete(): void {
    if (this.done !== Number.POSITIVE_INFINITY) this.done++;
    hbRelease(this.sched, this.clock);
    this.wq.wakeUpAll();
  }

  /** `complete_all`: every present and future waiter passes. */
  completeAll(): void {
    this.done = Number.POSITIVE_INFINITY;
    hbRelease(this.sched, this.clock);
    this.wq.wakeUpAll();
  }

  /** `completion_done`. */
  isDone(): boolean {
    if (this.done === 0) return false;
    hbAcquire(this.sched, this.clock);
    return true;
  }

  /** `reinit_completion`. */
  reinit(): void {
    this.done = 0;
  }
}
