/**
 * `struct rw_semaphore` (kernel/locking/rwsem.c), used for the mmap lock and drivers' notifier
 * locks. Readers share it; a writer excludes everyone. Waiters queue in FIFO order and a new
 * reader does not overtake a queued writer, so writers are not starved.
 */
import { HmmlabError } from '../errors.js';
import { hbAcquire, hbRelease, SyncClock } from './happens-before.js';
import { releaseHeld } from './mutex.js';
import type { Scheduler, Task, Waitable } from './scheduler.js';

interface RwWaiter {
  task: Task;
  write: boolean;
}

/** A sleeping reader-writer lock. */
export class RwSemaphore implements Waitable {
  /** Name, for traces and deadlock reports. */
  readonly name: string;
  /** The writer holding it, or null. */
  writer: Task | null = null;
  /** Readers holding it (a task appears once per read hold). */
  readonly readers: Task[] = [];
  private readonly waiters: RwWaiter[] = [];
  private readonly sched: Scheduler;
  /** Released by writers: every later holder acquires it. */
  private readonly writeClock = new SyncClock();
  /** Released by readers: the next writer acquires it (readers are not ordered among themselves). */
  private readonly readClock = new SyncClock();
  /** Tasks that have taken it for writing: those that may hold it so on another CPU when a trylock runs. */
  private readonly writers = new Set<Task>();
  /** Tasks that have taken it, either way. */
  private readonly lockers = new Set<Task>();

  constructor(sched: Scheduler, name: string) {
    this.sched = sched;
    this.name = name;
  }

  holders(): readonly Task[] {
    return this.writer !== null ? [this.writer] : this.readers;
  }

  /** True if tasks wait for it. */
  hasWaiters(): boolean {
    return this.waiters.length > 0;
  }

  /** True if the current task holds it for reading or writing (`lockdep_assert_held`). */
  isHeldByCurrent(): boolean {
    const t = this.sched.current;
    return this.writer === t || this.readers.includes(t);
  }

  /** True if the current task holds it for writing. */
  isWriteHeldByCurrent(): boolean {
    return this.writer === this.sched.current;
  }

  /** `down_read`: may sleep. */
  async downRead(): Promise<void> {
    const s = this.sched;
    s.mightSleep(`down_read(${this.name})`);
    await s.yield();
    const t = s.current;
    if (this.writer !== null || this.waiters.length > 0) {
      s.trace.lockEvent(this.name, 'wait', 'read');
      this.waiters.push({ task: t, write: false });
      await s.park('blocked', this);
    } else {
      this.readers.push(t);
    }
    hbAcquire(s, this.writeClock);
    this.lockers.add(t);
    t.held.add(this);
    s.trace.lockEvent(this.name, 'acquire', 'read');
  }

  /** `down_write`: may sleep. */
  async downWrite(): Promise<void> {
    const s = this.sched;
    s.mightSleep(`down_write(${this.name})`);
    await s.yield();
    const t = s.current;
    if (this.writer !== null || this.readers.length > 0 || this.waiters.length > 0) {
      s.trace.lockEvent(this.name, 'wait', 'write');
      this.waiters.push({ task: t, write: true });
      await s.park('blocked', this);
    } else {
      this.writer = t;
    }
    hbAcquire(s, this.writeClock);
    hbAcquire(s, this.readClock);
    this.lockers.add(t);
    this.writers.add(t);
    t.held.add(this);
    s.trace.lockEvent(this.name, 'acquire', 'write');
  }

  /**
   * `down_read_trylock`: never sleeps. In a non-blockable notifier callback it may also fail when
   * another live task has taken it for writing before (see `Mutex.tryLock`).
   */
  downReadTrylock(): boolean {
    const s = this.sched;
    if (this.writer !== null || this.waiters.length > 0 || s.trylockContended(this.writers)) {
      s.trace.lockEvent(this.name, 'trylock-fail', 'read');
      return false;
    }
    this.readers.push(s.current);
    hbAcquire(s, this.writeClock);
    this.lockers.add(s.current);
    s.current.held.add(this);
    s.trace.lockEvent(this.name, 'acquire', 'read');
    return true;
  }

  /**
   * `down_write_trylock`: never sleeps. In a non-blockable notifier callback it may also fail when
   * another live task has taken it before, either way (see `Mutex.tryLock`).
   */
  downWriteTrylock(): boolean {
    const s = this.sched;
    if (this.writer !== null || this.readers.length > 0 || this.waiters.length > 0 || s.trylockContended(this.lockers)) {
      s.trace.lockEvent(this.name, 'trylock-fail', 'write');
      return false;
    }
    this.writer = s.current;
    hbAcquire(s, this.writeClock);
    hbAcquire(s, this.readClock);
    this.lockers.add(s.current);
    this.writers.add(s.current);
    s.current.held.add(this);
    s.trace.lockEvent(this.name, 'acquire', 'write');
    return true;
  }

  /** `up_read`. */
  upRead(): void {
    const s = this.sched;
    const t = s.current;
    const i = this.readers.indexOf(t);
    if (i < 0) {
      if (s.checkAwaited('up_read', this, this.readers)) return;
      throw new HmmlabError(
        'ERR_NOT_OWNER',
        `up_read(${this.name}): task ${String(t)} does not hold it for reading; call up_read only after down_read`,
      );
    }
    this.readers.splice(i, 1);
    releaseHeld(t, this);
    hbRelease(s, this.readClock);
    s.trace.lockEvent(this.name, 'release', 'read');
    this.grant();
  }

  /** `up_write`. */
  upWrite(): void {
    const s = this.sched;
    const t = s.current;
    if (this.writer !== t) {
      if (s.checkAwaited('up_write', this, this.holders())) return;
      throw new HmmlabError(
        'ERR_NOT_OWNER',
        `up_write(${this.name}): task ${String(t)} does not hold it for writing (writer: ${
          this.writer === null ? 'none' : String(this.writer)
        }); call up_write only after down_write`,
      );
    }
    this.writer = null;
    releaseHeld(t, this);
    hbRelease(s, this.writeClock);
    s.trace.lockEvent(this.name, 'release', 'write');
    this.grant();
  }

  /**
   * @internal Happens-before of a read section that a caller took and left synchronously on an
   * uncontended lock (the fault fast path), as `down_read` then `up_read` would give.
   */
  readSectionSync(): void {
    // Tested here, not only in the hooks: the fault fast path inlines this and keeps its budget.
    if (!this.sched.hb) return;
    hbAcquire(this.sched, this.writeClock);
    hbRelease(this.sched, this.readClock);
  }

  /** `downgrade_write`: the writer keeps the lock as a reader. */
  downgradeWrite(): void {
    const s = this.sched;
    if (this.writer !== s.current) {
      if (s.checkAwaited('downgrade_write', this, this.holders())) return;
      throw new HmmlabError('ERR_NOT_OWNER', `downgrade_write(${this.name}): task ${String(s.current)} is not the writer`);
    }
    this.writer = null;
    this.readers.push(s.current);
    hbRelease(s, this.writeClock);
    this.grant();
  }

  /** Hands the lock to waiters at the head of the queue: one writer, or a run of readers. */
  private grant(): void {
    const s = this.sched;
    while (this.waiters.length > 0 && this.writer === null) {
      const w = this.waiters[0] as RwWaiter;
      if (w.write) {
        if (this.readers.length > 0) return;
        this.waiters.shift();
        this.writer = w.task;
        s.wake(w.task);
        return;
      }
      this.waiters.shift();
      this.readers.push(w.task);
      s.wake(w.task);
    }
  }
}
