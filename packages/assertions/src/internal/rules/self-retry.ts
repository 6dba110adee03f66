/**
 * `livelock` of a retry loop that collides with itself. A driver's read section (from
 * `mmu_interval_read_begin` to `mmu_interval_read_retry`) must not move its own notifier's
 * sequence: when every pass of the loop starts an invalidation that the callback answers with
 * `mmu_interval_set_seq` (its own `make_device_exclusive` or migration, which the callback does
 * not recognize as its own because the owner passed is not the one it compares with; or a fault
 * inside the section that undoes what the section did before), `read_retry` fails every time and
 * the loop retries until its timeout, whatever else runs. Reported at the
 * {@link SELF_RETRY_LIMIT}-th such failure in a row of one task on one notifier, each after the
 * same invalidation (event and range).
 */
import { eventName, type TraceEvent } from '@hmmlab/core';
import type { OracleContext } from '../context.js';
import { formatOwner } from '../report.js';

type InvStart = Extract<TraceEvent, { type: 'inv-start' }>;
type SetSeq = Extract<TraceEvent, { type: 'set-seq' }>;
type ReadRetry = Extract<TraceEvent, { type: 'read-retry' }>;

/**
 * Failed `read_retry`s in a row, each after the reading task's own invalidation, that make a
 * livelock: a loop that makes progress collides with itself once, and then reads again after the
 * invalidation it made; one that collides on every pass does so for as long as it retries. Loops
 * that give up after a few attempts (eight is common: the exclusive loops of the zoo's kit and of
 * dmirror) can still fail every attempt of every call a program makes in a row, and a generated
 * program makes at most eight calls (a `ScenarioShape.ops` asking for more can make more): the
 * limit is well above those 72, and well below the passes a loop makes before
 * `HMM_RANGE_DEFAULT_TIMEOUT` (well over a thousand).
 */
export const SELF_RETRY_LIMIT = 256;

/** The sequence a notifier was last given, and the task and invalidation that gave it. */
interface LastSet {
  seq: number;
  task: number;
  inv: InvStart | undefined;
  /** The event's place in the trace: a failure is counted once per `set_seq`. */
  at: number;
}

/**
 * Per notifier: the task whose `read_retry` failed after its own invalidation of the same range
 * (the same event over the same addresses), and how many times in a row. A task that works
 * through a range, invalidating one part after another (a migration of many pages checking the
 * sequence after each), collides with a different invalidation each time and makes progress.
 */
interface Streak {
  task: number;
  what: string;
  n: number;
  /** {@link LastSet.at} of the `set_seq` the last counted failure followed. */
  at: number;
}

/** Follows each interval notifier's sequence and who moved it. */
export class SelfRetries {
  /** The last invalidation each task started, by task id. */
  private readonly started = new Map<number, InvStart>();
  private readonly last = new Map<number, LastSet>();
  private readonly streaks = new Map<number, Streak>();

  onInvStart(ev: InvStart): void {
    this.started.set(ev.task, ev);
  }

  /**
   * A device fault of `task` begins or ends: a loop that ran inside the handler is over, and the
   * next fault's loop starts afresh (a handler whose loop gives up after a few collisions fails
   * that one access; it does not spin).
   */
  onFault(task: number): void {
    for (const [id, s] of this.streaks) if (s.task === task) this.streaks.delete(id);
  }

  onSetSeq(ev: SetSeq): void {
    const l = this.last.get(ev.id);
    if (l === undefined) this.last.set(ev.id, { seq: ev.curSeq, task: ev.task, inv: this.started.get(ev.task), at: ev.seq });
    else {
      l.seq = ev.curSeq;
      l.task = ev.task;
      l.inv = this.started.get(ev.task);
      l.at = ev.seq;
    }
  }

  onReadRetry(ctx: OracleContext, ev: ReadRetry): void {
    // The lockless check_retry is advisory: the loop decides on read_retry.
    if (ev.atomic) return;
    const l = this.last.get(ev.id);
    const own = l !== undefined && l.seq !== ev.readSeq && l.task === ev.task;
    const s = this.streaks.get(ev.id);
    if (!own) {
      if (s !== undefined && s.task === ev.task) this.streaks.delete(ev.id);
      return;
    }
    const set = l as LastSet;
    const inv = set.inv;
    const what = inv === undefined ? '' : `${inv.event}:${inv.start}:${inv.end}`;
    if (s === undefined || s.task !== ev.task || s.what !== what) {
      this.streaks.set(ev.id, { task: ev.task, what, n: 1, at: set.at });
      return;
    }
    // The same failure read again (a loop over pages checking one sequence): no new collision.
    if (s.at === set.at) return;
    s.at = set.at;
    if (++s.n !== SELF_RETRY_LIMIT) return;
    const by =
      inv === undefined
        ? 'an invalidation this task started itself'
        : `an invalidation this task started itself (#${inv.inv}, ${eventName(inv.event)} [0x${inv.start.toString(16)}, 0x${inv.end.toString(16)}) owner ${formatOwner(inv.owner)}, the last of them)`;
    ctx.report(
      {
        rule: 'livelock',
        explanation: `mmu_interval_read_retry on "${ev.sub}" failed ${SELF_RETRY_LIMIT} times in a row, each time because the sequence was moved by ${by}, the same invalidation every time: every pass of the retry loop collides with itself and it retries until its timeout. A callback must recognize the caller's own conversion or migration (the owner passed to make_device_exclusive or migrate_vma_setup is the one it compares range->owner with), and a read section must not start an invalidation of its own range`,
        dedupKey: `livelock:self-retry:${ev.id}:${ev.task}`,
      },
      ev,
    );
  }
}
