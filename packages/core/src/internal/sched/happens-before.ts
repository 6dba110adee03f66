/**
 * Happens-before by vector clocks (Lamport 1978; the DJIT+/FastTrack race detectors; loom's
 * `rt/vv.rs`). Every task carries a vector clock; a synchronising object carries one too. A
 * release joins the task's clock into the object's and starts a new epoch of the task; an acquire
 * joins the object's clock into the task's. Two accesses are ordered when the first one's epoch is
 * covered by the second task's clock at the time of the second access, whichever interleaving ran:
 * a race detector built on this finds unordered conflicting accesses even where the model takes
 * no preemption point between them.
 *
 * The edges come from the primitives that order real CPUs: a lock's release → its next acquire
 * (`mutex_unlock` → `mutex_lock`, `up_write` → `down_read`, …), a task's spawn, a wake-up → the
 * wait that returns (`complete` → `wait_for_completion`, `wake_up_all` → `wait_event`),
 * `queue_work` → the work running, and the interval notifier's invalidation (mm/mmu_notifier.c).
 * An interval callback runs in the invalidating task, between `mn_itree_inv_start_range` and
 * `mn_itree_inv_end`, which both take `subscriptions->lock`, as `mmu_interval_read_begin` does: a
 * `read_begin` before the invalidation's start is ordered before its callbacks, and one after its
 * end is ordered after them. A `read_begin` that finds the sequence odd and already set on its
 * notifier sleeps on `subscriptions->wq` until `mn_itree_inv_end`'s `wake_up_all`: ordered after
 * the callbacks too. One that comes after the start but before its notifier's `set_seq` does not
 * wait and is not ordered after the callback. Nor does `mmu_interval_read_retry` order it: it is a
 * plain load of the field `mmu_interval_set_seq` stores with `WRITE_ONCE`
 * (include/linux/mmu_notifier.h), and the header requires both to run under one driver lock; that
 * lock's release → acquire is the edge. Both are accesses the `data-race` rule checks.
 *
 * Tracking is off until {@link Scheduler.trackHappensBefore} turns it on; every hook is then a
 * no-op costing one branch.
 */
import type { Scheduler, Task } from './scheduler.js';

/** The vector clock of a synchronising object (a lock, a wait queue, a notifier's sequence). */
export class SyncClock {
  /** Component per task id. */
  readonly vc: number[] = [];
}

/** The vector clock of `t`, created at its first epoch when it has none yet. */
function clockOf(t: Task): number[] {
  let v = t.vc;
  if (v === null) {
    v = new Array<number>(t.id + 1).fill(0);
    v[t.id] = 1;
    t.vc = v;
  }
  return v;
}

function join(into: number[], from: readonly number[]): void {
  const n = from.length;
  for (let i = into.length; i < n; i++) into.push(0);
  for (let i = 0; i < n; i++) {
    const f = from[i] as number;
    if (f > (into[i] as number)) into[i] = f;
  }
}

/** Release: what the running task did so far happens before whoever acquires `c` next. */
export function hbRelease(s: Scheduler, c: SyncClock): void {
  if (!s.hb) return;
  const t = s.current;
  const v = clockOf(t);
  join(c.vc, v);
  v[t.id] = (v[t.id] as number) + 1;
}

/** Acquire: everything released into `c` happens before what the running task does next. */
export function hbAcquire(s: Scheduler, c: SyncClock): void {
  if (!s.hb) return;
  join(clockOf(s.current), c.vc);
}

/** Spawn: the parent's past happens before the child's first step. */
export function hbSpawn(parent: Task, child: Task): void {
  const pv = clockOf(parent);
  const cv = pv.slice();
  for (let i = cv.length; i <= child.id; i++) cv.push(0);
  cv[child.id] = 1;
  child.vc = cv;
  pv[parent.id] = (pv[parent.id] as number) + 1;
}

/** The current epoch of `t`: its own component of its clock. */
export function epochOf(t: Task): number {
  return clockOf(t)[t.id] as number;
}

/** True if the access of task `taskId` at `epoch` happens before everything `t` does from now on. */
export function happensBefore(taskId: number, epoch: number, t: Task): boolean {
  return epoch <= (clockOf(t)[taskId] ?? 0);
}
