/**
 * `struct mutex` (kernel/locking/mutex.c): a sleeping lock with an owner. `lock` is a preemption
 * point, then blocks while another task holds it; `unlock` hands the lock to the longest waiter.
 */
import { HmmlabError } from '../errors.js';
import { hbAcquire, hbRelease, SyncClock } from './happens-before.js';
import type { Scheduler, Task, Waitable } from './scheduler.js';

/** A sleeping mutual-exclusion lock. Only its owner may unlock it. */
export class Mutex implements Waitable {
  /** Name, for traces and deadlock reports. */
  readonly name: string;
  /** The holder, or null. */
  owner: Task | null = null;
  private readonly waiters: Task[] = [];
  private readonly sched: Scheduler;
  private readonly clock = new SyncClock();
  /** Tasks that have taken it: those that may hold it on another CPU when a trylock runs. */
  private readonly lockers = new Set<Task>();

  /** The API's prefix in messages: `mutex` (`mutex_unlock`), or `spin` for a {@link SpinLock}'s. */
  private readonly api: string;

  /** @param api - @internal the prefix of the calls named in errors */
  constructor(sched: Scheduler, name: string, api = 'mutex') {
    this.sched = sched;
    this.name = name;
    this.api = api;
  }

  holders(): readonly Task[] {
    return this.owner === null ? [] : [this.owner];
  }

  /** True when some task holds it (`mutex_is_locked`). */
  isLocked(): boolean {
    return this.owner !== null;
  }

  /** `mutex_lock`: may sleep. Taking a mutex you already hold deadlocks, as in the kernel. */
  async lock(): Promise<void> {
    const s = this.sched;
    s.mightSleep(`mutex_lock(${this.name})`);
    await s.yield();
    const t = s.current;
    if (this.owner !== null) {
      s.trace.lockEvent(this.name, 'wait', 'excl');
      this.waiters.push(t);
      await s.park('blocked', this);
      // unlock() handed the lock over to us.
    } else {
      this.owner = t;
    }
    hbAcquire(s, this.clock);
    this.lockers.add(t);
    t.held.add(this);
    s.trace.lockEvent(this.name, 'acquire', 'excl');
  }

  /**
   * `mutex_trylock`: never sleeps; true if the lock was taken. In a non-blockable interval
   * notifier callback it may also fail on a free lock that another live task has taken before: that task may hold it on
   * another CPU (a scheduling decision of the run, recorded like any other).
   */
  tryLock(): boolean {
    const s = this.sched;
    if (this.owner !== null || s.trylockContended(this.lockers)) {
      s.trace.lockEvent(this.name, 'trylock-fail', 'excl');
      return false;
    }
    this.take();
    return true;
  }

  /** @internal Takes the lock, free, for the running task. */
  take(): void {
    const s = this.sched;
    this.owner = s.current;
    hbAcquire(s, this.clock);
    this.lockers.add(s.current);
    s.current.held.add(this);
    s.trace.lockEvent(this.name, 'acquire', 'excl');
  }

  /** `mutex_unlock`: only the owner may call it. */
  unlock(): void {
    const s = this.sched;
    const t = s.current;
    const api = this.api;
    if (this.owner !== t) {
      if (s.checkAwaited(`${api}_unlock`, this, this.holders())) return;
      throw new HmmlabError(
        'ERR_NOT_OWNER',
        `${api}_unlock(${this.name}): task ${String(t)} does not hold it (holder: ${
          this.owner === null ? 'none' : String(this.owner)
        }); unlock only a lock your task locked`,
      );
    }
    releaseHeld(t, this);
    hbRelease(s, this.clock);
    s.trace.lockEvent(this.name, 'release', 'excl');
    const next = this.waiters.shift();
    this.owner = next ?? null;
    if (next !== undefined) s.wake(next);
  }
}

/** @internal Removes `lock` from the task's held locks. */
export function releaseHeld(t: Task, lock: Waitable): void {
  t.held.remove(lock);
}

/**
 * A `spinlock_t` (include/linux/spinlock.h): `lock` never sleeps and never fails. Code between two
 * awaits runs atomically here, so the lock is always free when `lock` runs unless its holder
 * awaited while holding it, which a spinlock's holder must not do (it runs with preemption off):
 * that throws, naming the holder. `tryLock` may fail as a mutex's does (another CPU may hold the
 * lock at that moment, see {@link Mutex.tryLock}). For a lock a driver takes in a notifier callback
 * without sleeping, as KVM's `mmu_lock`, amdkfd's `deferred_list_lock` or xe's garbage-collector
 * lock.
 */
export class SpinLock implements Waitable {
  /** Name, for traces and reports. */
  readonly name: string;
  private readonly sched: Scheduler;
  private readonly m: Mutex;

  constructor(sched: Scheduler, name: string) {
    this.sched = sched;
    this.name = name;
    this.m = new Mutex(sched, name, 'spin');
  }

  holders(): readonly Task[] {
    return this.m.holders();
  }

  /** True when some task holds it (`spin_is_locked`). */
  isLocked(): boolean {
    return this.m.isLocked();
  }

  /** `spin_lock`: takes the lock, which must be free (see the class). */
  lock(): void {
    const owner = this.m.owner;
    if (owner !== null) {
      const who = owner === this.sched.current ? 'this task, which takes it again (a spinlock does not nest)' : `task ${String(owner)}`;
      throw new HmmlabError(
        'ERR_STATE',
        `spin_lock(${this.name}): held by ${who}; a spinlock's holder must not await (sleep or yield) before spin_unlock`,
      );
    }
    this.m.take();
  }

  /** `spin_trylock`: never spins; true if the lock was taken (see {@link Mutex.tryLock}). */
  tryLock(): boolean {
    return this.m.tryLock();
  }

  /** `spin_unlock`: only the holder may call it. */
  unlock(): void {
    this.m.unlock();
  }
}
