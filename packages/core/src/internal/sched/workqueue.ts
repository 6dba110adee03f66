/**
 * Workqueues (kernel/workqueue.c): deferred work run by a worker task. Drivers use them for
 * restore workers, garbage collectors and deferred evictions; running the work in its own task
 * lets the scheduler interleave it with everything else.
 */
import { HmmlabError } from '../errors.js';
import { hbAcquire, hbRelease, SyncClock } from './happens-before.js';
import type { Scheduler, Task, Waitable } from './scheduler.js';
import { WaitQueue } from './wait-queue.js';

/** A `struct work_struct`. */
export class Work {
  /** Name, for traces. */
  readonly name: string;
  /** The work function, run by the worker task. */
  readonly fn: () => Promise<void> | void;
  /** Queued and not yet started. */
  pending = false;
  /** Being run by a worker. */
  running = false;
  /** For delayed work: model time it becomes ready. */
  dueAt = 0;
  /** @internal `queue_work` → the work running. */
  readonly queued = new SyncClock();

  constructor(name: string, fn: () => Promise<void> | void) {
    this.name = name;
    this.fn = fn;
  }
}

/** A `struct delayed_work`. */
export class DelayedWork extends Work {}

/** A `struct workqueue_struct` with one worker task (an ordered workqueue). */
export class Workqueue implements Waitable {
  /** Name, for traces and deadlock reports. */
  readonly name: string;
  private readonly sched: Scheduler;
  private readonly ready: Work[] = [];
  private readonly delayed: Work[] = [];
  private worker: Task | null = null;
  /** The worker is parked waiting for work (not blocked inside a work item). */
  private waitingForWork = false;
  private readonly done: WaitQueue;

  constructor(sched: Scheduler, name: string) {
    this.sched = sched;
    this.name = name;
    this.done = new WaitQueue(sched, `${name}.flush`);
  }

  holders(): readonly Task[] {
    return [];
  }

  /** `queue_work`: false if the work was already pending. */
  queueWork(work: Work): boolean {
    if (work.pending) return false;
    work.pending = true;
    hbRelease(this.sched, work.queued);
    this.ready.push(work);
    this.kick();
    return true;
  }

  /** `queue_delayed_work`: runs `work` no earlier than `delay` ticks of model time from now. */
  queueDelayedWork(work: DelayedWork, delay: number): boolean {
    if (!Number.isInteger(delay) || delay < 0) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `queue_delayed_work(${this.name}, ${work.name}): delay ${String(delay)} must be a non-negative integer of ticks`,
      );
    }
    if (work.pending) return false;
    work.pending = true;
    hbRelease(this.sched, work.queued);
    if (delay === 0) {
      this.ready.push(work);
    } else {
      work.dueAt = this.sched.now + delay;
      this.delayed.push(work);
    }
    this.kick();
    return true;
  }

  /** `mod_delayed_work`: (re)arms the work `delay` ticks from now. */
  modDelayedWork(work: DelayedWork, delay: number): boolean {
    const was = this.cancel(work);
    this.queueDelayedWork(work, delay);
    return was;
  }

  /** `cancel_delayed_work` / `cancel_work`: true if it was pending. Does not wait. */
  cancel(work: Work): boolean {
    if (!work.pending) return false;
    work.pending = false;
    const a = this.ready.indexOf(work);
    if (a >= 0) this.ready.splice(a, 1);
    const b = this.delayed.indexOf(work);
    if (b >= 0) this.delayed.splice(b, 1);
    return true;
  }

  /** `cancel_work_sync`: cancels and waits for a running instance to finish. */
  async cancelSync(work: Work): Promise<boolean> {
    const was = this.cancel(work);
    await this.done.waitEvent(() => !work.running);
    return was;
  }

  /** `flush_work`: waits until the work is neither pending nor running. */
  async flushWork(work: Work): Promise<void> {
    if (work.pending && this.delayed.includes(work)) {
      // flush_delayed_work: run it now rather than waiting for the timer.
      this.delayed.splice(this.delayed.indexOf(work), 1);
      this.ready.push(work);
      this.kick();
    }
    await this.done.waitEvent(() => !work.pending && !work.running);
  }

  /** `flush_workqueue`: waits until nothing is queued or running. */
  async flush(): Promise<void> {
    await this.done.waitEvent(() => this.ready.length === 0 && this.delayed.length === 0 && !this.busy());
  }

  private busy(): boolean {
    return this.worker !== null && this.worker.state !== 'idle';
  }

  private kick(): void {
    if (this.worker === null) {
      this.worker = this.sched.spawn(`kworker/${this.name}`, 'kernel', () => this.loop(), true);
    } else if (this.waitingForWork) {
      // Only a worker waiting for work is woken: one blocked inside a work item (on a lock, a
      // wait queue) must stay blocked until what it waits for happens.
      this.sched.wake(this.worker);
    }
  }

  private nextReady(): Work | undefined {
    const now = this.sched.now;
    for (let i = 0; i < this.delayed.length; i++) {
      const w = this.delayed[i] as Work;
      if (w.dueAt <= now) {
        this.delayed.splice(i--, 1);
        this.ready.push(w);
      }
    }
    return this.ready.shift();
  }

  private async loop(): Promise<void> {
    const s = this.sched;
    const me = s.current;
    for (;;) {
      const w = this.nextReady();
      if (w !== undefined) {
        w.pending = false;
        w.running = true;
        hbAcquire(s, w.queued);
        me.contexts.push(`work ${w.name} on ${this.name}`);
        await w.fn();
        if (s.isRunning && s.current !== me) {
          // The run ends; the worker's code halts here.
          s.notAwaited(me, `the end of work ${w.name}`);
          return;
        }
        me.contexts.pop();
        w.running = false;
        this.done.wakeUpAll();
        continue;
      }
      this.done.wakeUpAll();
      if (this.delayed.length > 0) {
        let due = Number.POSITIVE_INFINITY;
        for (const d of this.delayed) due = Math.min(due, d.dueAt);
        me.wakeAt = due;
        this.waitingForWork = true;
        await s.park('sleeping', null);
      } else {
        this.waitingForWork = true;
        await s.park('idle', this);
      }
      this.waitingForWork = false;
    }
  }
}
