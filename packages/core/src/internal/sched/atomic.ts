/**
 * An `atomic_t` (include/linux/atomic.h), ordered as Documentation/atomic_t.txt ("ORDERING")
 * says: reads, sets and read-modify-writes without a return value (`atomic_inc`, `atomic_dec`,
 * `atomic_add`) are unordered; read-modify-writes that return a value (`atomic_inc_return`,
 * `atomic_dec_and_test`, `atomic_add_return`, `atomic_xchg`) are fully ordered, and a conditional
 * one (`atomic_cmpxchg`) is when it succeeds. In happens-before terms a fully ordered operation
 * acquires and releases the atomic's own clock: what a task did before one such operation happens
 * before what any task does after a later one on the same atomic. That is what makes the usual
 * count of work in flight correct: each finisher's `atomic_dec_and_test` orders its work before
 * the last finisher's, whose wake-up orders all of it before the waiter.
 *
 * Every access is atomic, so no two of them race with each other: an `Atomic` records no
 * accesses for the `data-race` rule (state whose accesses may be plain is a `SharedCell`).
 */
import { hbAcquire, hbRelease, SyncClock } from './happens-before.js';
import type { Scheduler } from './scheduler.js';

/** An `atomic_t`. */
export class Atomic {
  /** Name, for traces and reports. */
  readonly name: string;
  private value: number;
  private readonly sched: Scheduler;
  private readonly clock = new SyncClock();

  constructor(sched: Scheduler, name: string, initial = 0) {
    this.sched = sched;
    this.name = name;
    this.value = initial;
  }

  /** A fully ordered read-modify-write: acquires, then releases, the atomic's clock. */
  private ordered(v: number): number {
    hbAcquire(this.sched, this.clock);
    this.value = v;
    hbRelease(this.sched, this.clock);
    return v;
  }

  /** `atomic_read` (unordered). */
  read(): number {
    return this.value;
  }

  /** `atomic_set` (unordered). */
  set(v: number): void {
    this.value = v;
  }

  /** `atomic_inc` (unordered). */
  inc(): void {
    this.value++;
  }

  /** `atomic_dec` (unordered). */
  dec(): void {
    this.value--;
  }

  /** `atomic_add` (unordered). */
  add(n: number): void {
    this.value += n;
  }

  /** `atomic_add_return` (fully ordered): the new value. */
  addReturn(n: number): number {
    return this.ordered(this.value + n);
  }

  /** `atomic_inc_return` (fully ordered): the new value. */
  incReturn(): number {
    return this.ordered(this.value + 1);
  }

  /** `atomic_dec_return` (fully ordered): the new value. */
  decReturn(): number {
    return this.ordered(this.value - 1);
  }

  /** `atomic_dec_and_test` (fully ordered): true if the new value is 0. */
  decAndTest(): boolean {
    return this.ordered(this.value - 1) === 0;
  }

  /** `atomic_xchg` (fully ordered): the old value. */
  xchg(v: number): number {
    const old = this.value;
    this.ordered(v);
    return old;
  }

  /** `atomic_cmpxchg`: sets `v` if the value is `old` (fully ordered then, unordered if not); the value it found. */
  cmpxchg(old: number, v: number): number {
    const found = this.value;
    if (found === old) this.ordered(v);
    return found;
  }
}
