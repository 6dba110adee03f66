/**
 * The deterministic cooperative scheduler. Every actor (CPU thread, device work, driver path,
 * kernel background) is a task: an async function that runs until it awaits one of the
 * scheduler's primitives. Exactly one task runs at a time; which one runs next is chosen by a
 * {@link DecisionSource}, so a run is a pure function of the scenario and its decisions.
 */
import { HmmlabError } from '../errors.js';
import type { TaskKind, TaskOutcome, Trace } from '../trace.js';
import type { DecisionSource, TaskInfo } from './decisions.js';
import { hbSpawn } from './happens-before.js';

/** Where a task is in its life. */
export type TaskState = 'runnable' | 'running' | 'blocked' | 'sleeping' | 'idle' | 'done';

/** Something a task can wait on or hold, named for deadlock reports. */
export interface Waitable {
  /** Name, for traces and deadlock reports. */
  readonly name: string;
  /** Tasks that hold it (a lock's owner or readers), for "who holds what". */
  holders(): readonly Task[];
}

/**
 * A lock that one task at a time holds, at most once (a page lock): its holder records the hold
 * on the lock itself rather than in a table, so a migration holding many costs no hashing.
 */
export interface OwnedLock extends Waitable {
  /** @internal The hold's sequence number in its holder's {@link HeldLocks}; -1 when not held. */
  heldSeq: number;
  /** @internal The lock its holder took before this one and still holds (its list's link). */
  heldPrev: OwnedLock | null;
  /** @internal The lock its holder took after this one and still holds. */
  heldNext: OwnedLock | null;
}

/** A CPU signal that ends the thread that caught it, not the run (SIGSEGV, SIGBUS). */
export class SignalError extends Error {
  /** `SIGSEGV` or `SIGBUS`. */
  readonly signal: 'SIGSEGV' | 'SIGBUS';
  /** The faulting address. */
  readonly address: number;
  constructor(signal: 'SIGSEGV' | 'SIGBUS', address: number, message: string) {
    // No stack trace: the JavaScript frames of a modeled signal say nothing of the run it ended
    // (the message names the access), and capturing them cost microseconds per signal.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'SignalError';
    this.signal = signal;
    this.address = address;
  }
}

/**
 * A driver callback threw. The run stops with status `error`; `context` names the callback
 * (`interval notifier "dmirror" invalidate`), and `cause` is what it threw.
 */
export class DriverCallbackError extends Error {
  /** The callback that threw. */
  readonly context: string;
  constructor(context: string, cause: unknown) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(`${context} threw: ${msg}`, { cause });
    this.name = 'DriverCallbackError';
    this.context = context;
  }
}

/**
 * Hold numbers, shared by every task's {@link HeldLocks}: they order a task's holds, and
 * {@link HeldLocks.mark} tells the locks taken since a point apart from those taken before.
 */
let nextHoldSeq = 0;

/**
 * The locks a task holds, in acquisition order, with O(1) add and remove (a migration can hold
 * thousands of page locks). Owned locks (page locks) are kept as the kernel keeps a `list_head`:
 * linked through the locks themselves, so holding many allocates nothing.
 */
export class HeldLocks {
  /** Per lock: its acquisition sequence number (a small integer, stored unboxed). */
  private readonly locks = new Map<Waitable, number>();
  /** Holds beyond the first, for the rare lock held more than once (a read lock taken twice). */
  private readonly extra = new Map<Waitable, number>();
  /** The owned locks held, oldest first, linked by `heldPrev`/`heldNext`. */
  private ownedHead: OwnedLock | null = null;
  private ownedTail: OwnedLock | null = null;

  private cachedNames: readonly string[] | null = null;
  private cachedHeld: readonly Waitable[] | null = null;

  /** Records the hold of an owned lock (a page lock, whose holder records the hold on the lock). */
  addOwned(lock: OwnedLock): void {
    lock.heldSeq = nextHoldSeq++;
    lock.heldPrev = this.ownedTail;
    lock.heldNext = null;
    if (this.ownedTail === null) this.ownedHead = lock;
    else this.ownedTail.heldNext = lock;
    this.ownedTail = lock;
    this.changed();
  }

  /** Drops the hold of an owned lock. */
  removeOwned(lock: OwnedLock): void {
    if (lock.heldSeq < 0) return;
    lock.heldSeq = -1;
    const { heldPrev: prev, heldNext: next } = lock;
    if (prev === null) this.ownedHead = next;
    else prev.heldNext = next;
    if (next === null) this.ownedTail = prev;
    else next.heldPrev = prev;
    lock.heldPrev = null;
    lock.heldNext = null;
    this.changed();
  }

  /** Every lock held whose hold is numbered `mark` or later, oldest first. */
  private ordered(mark: number): Waitable[] {
    const out: Waitable[] = [];
    let o = this.ownedHead;
    while (o !== null && o.heldSeq < mark) o = o.heldNext;
    for (const [l, seq] of this.locks) {
      for (; o !== null && o.heldSeq < seq; o = o.heldNext) out.push(o);
      if (seq >= mark) out.push(l);
    }
    for (; o !== null; o = o.heldNext) out.push(o);
    return out;
  }

  /** Records one more hold of `lock` (a lock held twice, as a read lock can be, counts twice). */
  add(lock: Waitable): void {
    if (this.locks.has(lock)) this.extra.set(lock, (this.extra.get(lock) ?? 0) + 1);
    else {
      this.locks.set(lock, nextHoldSeq++);
      this.changed();
    }
  }

  /** Drops one hold of `lock`. */
  remove(lock: Waitable): void {
    if (this.extra.size > 0) {
      const x = this.extra.get(lock);
      if (x !== undefined) {
        if (x === 1) this.extra.delete(lock);
        else this.extra.set(lock, x - 1);
        return;
      }
    }
    if (this.locks.delete(lock)) this.changed();
  }

  /** A mark: locks taken after it are listed by {@link HeldLocks.takenSince}. */
  mark(): number {
    return nextHoldSeq;
  }

  /** Names of locks taken since `mark` and still held. */
  takenSince(mark: number): string[] {
    return this.ordered(mark).map((l) => l.name);
  }

  /** Names of every lock held, oldest first. */
  names(): string[] {
    return this.ordered(0).map((l) => l.name);
  }

  /** The same names, as one array shared until the set of locks changes (for observers that keep many). */
  namesSnapshot(): readonly string[] {
    if (this.cachedNames === null) this.cachedNames = Object.freeze(this.heldSnapshot().map((l) => l.name));
    return this.cachedNames;
  }

  /** Every lock held, oldest first, as one array shared until the set of locks changes. */
  heldSnapshot(): readonly Waitable[] {
    if (this.cachedHeld === null) this.cachedHeld = Object.freeze(this.ordered(0));
    return this.cachedHeld;
  }

  private changed(): void {
    this.cachedNames = null;
    this.cachedHeld = null;
  }
}

/** One actor of a run. */
export class Task implements TaskInfo {
  /** Unique id, in spawn order. */
  readonly id: number;
  /** Name, for traces and reports. */
  readonly name: string;
  /** What kind of actor the task models. */
  readonly kind: TaskKind;
  /** A daemon (a workqueue worker) does not keep the run alive while it idles. */
  readonly daemon: boolean;
  /** Where the task is in its life. */
  state: TaskState = 'runnable';
  /** What the task waits on while blocked. */
  waitingOn: Waitable | null = null;
  /** Locks the task holds. */
  readonly held = new HeldLocks();
  /** Model time at which a sleeping task wakes. */
  wakeAt = 0;
  /**
   * Driver-callback contexts the task is in, innermost last (e.g. `interval notifier
   * "dmirror" invalidate, inv #4`). Reports name the innermost one.
   */
  readonly contexts: string[] = [];
  /** For each of {@link Task.contexts}: whether a trylock there may find the lock contended. */
  readonly contendable: boolean[] = [];
  /**
   * @internal The lockers of each lock a trylock of this callback found held on another CPU
   * ({@link Scheduler.trylockContended}); emptied when a callback is entered.
   */
  contendedIn: Set<ReadonlySet<Task>> | null = null;
  /** Depth of contexts in which the task must not sleep (non-blockable notifier ranges). */
  atomicDepth = 0;
  /** How it ended, once done. */
  outcome: TaskOutcome | null = null;
  /** The error or signal that ended the task, if any. */
  error: unknown = null;
  /** @internal */
  resume: (() => void) | null = null;
  /** @internal The task's vector clock (happens-before.ts), while tracking is on. */
  vc: number[] | null = null;
  /**
   * Ticks the task was runnable while another task ran: on a machine with a CPU for each task it
   * would have run then, so its own clock ({@link Scheduler.clock}) does not count them.
   */
  heldBack = 0;

  constructor(id: number, name: string, kind: TaskKind, daemon: boolean) {
    this.id = id;
    this.name = name;
    this.kind = kind;
    this.daemon = daemon;
  }

  /** `name#id`, as reports print a task. */
  toString(): string {
    return `${this.name}#${this.id}`;
  }
}

/** How a run ended. */
export type RunStatus = 'done' | 'deadlock' | 'step-limit' | 'error' | 'hung' | 'stopped';

/** One blocked task in a deadlock report. */
export interface DeadlockEntry {
  /** The blocked task. */
  task: TaskInfo;
  /** The name of what it waits for. */
  waitsFor: string;
  /** The tasks that hold it. */
  heldBy: TaskInfo[];
  /** Names of the locks the blocked task holds. */
  holds: string[];
  /** The driver callback the blocked task is in, if any. */
  context: string | null;
}

/** The result of {@link Scheduler.run}. */
export interface RunResult {
  /** How the run ended. */
  status: RunStatus;
  /** Scheduler steps taken. */
  steps: number;
  /** Model time at the end. */
  time: number;
  /** The choices made where more than one task could run: replaying them replays the run. */
  decisions: number[];
  /** For `error` and `hung`: the task that failed; for `step-limit`: the last task to run. */
  failedTask: TaskInfo | null;
  /** For `error`, `hung` and `step-limit`: the driver callback that task was in, if any. */
  failedContext: string | null;
  /** For `error`: what was thrown. */
  error: unknown;
  /** For `deadlock`: every blocked task, what it waits for and who holds it. */
  deadlock: DeadlockEntry[];
  /** One paragraph saying what happened, for people. */
  message: string;
}

/** Options of {@link Scheduler.run}. */
export interface RunOptions {
  /** Stop with `step-limit` after this many steps. @defaultValue 1_000_000 */
  maxSteps?: number;
}

/** Frames of the model itself, skipped when naming the driver code that called a primitive. */
const MODEL_FRAME = /[\\/](?:packages|@hmmlab)[\\/](?:core|harness|assertions|fuzz)[\\/]|\(node:|^at node:/;

/**
 * Per task id, an async function named `hmmlab_task_<id>` through which the task's body runs:
 * V8's async stack traces follow a chain of awaits up to the body, so the innermost such frame of
 * a stack names the task whose code it is (see {@link Scheduler.strayCode}). Made once per id and
 * kept (ids restart with each run's scheduler).
 */
const taskMarkers: ((fn: () => unknown) => Promise<unknown>)[] = [];

function taskMarker(id: number): (fn: () => unknown) => Promise<unknown> {
  let m = taskMarkers[id];
  if (m === undefined) {
    const name = `hmmlab_task_${id}`;
    const holder: Record<string, (fn: () => unknown) => Promise<unknown>> = {
      async [name](fn: () => unknown): Promise<unknown> {
        return await fn();
      },
    };
    m = holder[name] as (fn: () => unknown) => Promise<unknown>;
    taskMarkers[id] = m;
  }
  return m;
}

const TASK_FRAME = /^hmmlab_task_(\d+)$/;

/** The id in the innermost `hmmlab_task_<id>` frame of the stack here (async frames included), or 0. */
function taskOfStack(): number {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  Error.stackTraceLimit = 200;
  // Structured frames, without formatting the stack (or mapping it through source maps).
  Error.prepareStackTrace = (_e, frames) => frames;
  const holder: { stack?: unknown } = {};
  Error.captureStackTrace(holder);
  const frames = holder.stack as NodeJS.CallSite[] | undefined;
  Error.stackTraceLimit = limit;
  Error.prepareStackTrace = prepare;
  for (const f of frames ?? []) {
    const m = TASK_FRAME.exec(f.getFunctionName() ?? f.getMethodName() ?? '');
    if (m !== null) return Number(m[1]);
  }
  return 0;
}

/** ` (in f (file:line:col))`: the innermost frame of the stack outside the model, or nothing. */
function callerFrame(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  for (const line of stack.split('\n').slice(1)) {
    const l = line.trim();
    if (!MODEL_FRAME.test(l)) return ` (${l.replace(/^at /, 'in ')})`;
  }
  return '';
}

let activeScheduler: Scheduler | null = null;
const RESOLVED: Promise<void> = Promise.resolve();

/** The scheduler whose run is in progress, if any. */
export function currentScheduler(): Scheduler | null {
  return activeScheduler;
}

/**
 * The scheduler. Primitives ({@link Mutex}, wait queues, …) are bound to one scheduler and call
 * its `park`/`wake` methods; users only spawn tasks and run.
 */
export class Scheduler {
  /** The event trace the scheduler writes to. */
  readonly trace: Trace;
  /** Steps taken so far (one per dispatch). */
  step = 0;
  /** Model time: advances by one per step, and jumps forward when every task sleeps. */
  now = 0;
  /** The running task; outside a run, a pseudo task named `setup`. */
  current: Task;
  private readonly setupTask: Task;
  private readonly tasks: Task[] = [];
  private readonly candidates: Task[] = [];
  private nextId = 1;
  private decisions: DecisionSource | null = null;
  private readonly decisionLog: number[] = [];
  private running = false;
  private finished = false;
  private maxSteps = 1_000_000;
  private finishRun: ((r: RunResult) => void) | null = null;
  private failRun: ((e: unknown) => void) | null = null;
  /** A decision source's answer that was no index: the run ends and {@link Scheduler.run} rejects with it. */
  private decisionError: HmmlabError | null = null;
  /** The pending watchdog turn; cleared when the run ends, so it does not keep the finished run alive. */
  private watchdogTurn: ReturnType<typeof setImmediate> | null = null;
  private nextWake = Number.POSITIVE_INFINITY;
  private stopReason: string | null = null;
  /**
   * The task that has just parked, from its {@link Scheduler.park} until the microtask queued
   * then: the task picked next only starts running in a microtask queued after it, so code that
   * runs in that window and calls a primitive is no task's (most often the parked task's own,
   * going on past a wait it did not await: see {@link Scheduler.checkAwaited}).
   */
  private parkedNow: Task | null = null;
  private readonly closeParkWindow = (): void => {
    this.parkedNow = null;
  };
  /** @internal True while happens-before is tracked (happens-before.ts). */
  hb = false;

  constructor(trace: Trace) {
    this.trace = trace;
    this.setupTask = new Task(0, 'setup', 'kernel', false);
    this.setupTask.state = 'running';
    this.current = this.setupTask;
    trace.attachClock(this);
  }

  /** @internal The id of the running task, for trace stamps. */
  currentTaskId(): number {
    return this.current.id;
  }

  /**
   * Tracks happens-before from now on: tasks and synchronising primitives carry vector clocks, so
   * an observer can tell whether two accesses are ordered (a data-race detector). Turn it on
   * before spawning the tasks whose accesses matter.
   */
  trackHappensBefore(): void {
    this.hb = true;
  }

  /** True while {@link Scheduler.run} is in progress. */
  get isRunning(): boolean {
    return this.running;
  }

  /**
   * True once {@link Scheduler.run} has ended. Code of a task may still run then, up to its next
   * wait (code that went on past a wait it did not await, or a task stopped at a violation): the
   * machine has stopped, and what that code does is no event of the run.
   */
  get hasEnded(): boolean {
    return this.finished && !this.running;
  }

  /** All tasks spawned so far, in spawn order. */
  allTasks(): readonly Task[] {
    return this.tasks;
  }

  /**
   * Creates a task. It first runs when the scheduler picks it, inside {@link Scheduler.run}.
   * Tasks may be spawned before a run or by other tasks during it.
   * @param daemon - a daemon that idles does not keep the run alive. @defaultValue false
   */
  spawn(name: string, kind: TaskKind, fn: () => Promise<unknown> | unknown, daemon = false): Task {
    if (this.finished && !this.running) {
      throw new HmmlabError('ERR_STATE', `Scheduler.spawn: the run has ended; create a new Kernel for a new run`);
    }
    const t = new Task(this.nextId++, name, kind, daemon);
    const gate = new Promise<void>((res) => {
      t.resume = res;
    });
    this.tasks.push(t);
    if (this.hb) hbSpawn(this.current, t);
    if (this.trace.on) this.trace.emit({ type: 'task-spawn', id: t.id, name, kind });
    void this.body(t, gate, fn);
    return t;
  }

  private async body(t: Task, gate: Promise<void>, fn: () => Promise<unknown> | unknown): Promise<void> {
    await gate;
    let outcome: TaskOutcome = 'done';
    let error: unknown = null;
    try {
      await taskMarker(t.id)(fn);
    } catch (e) {
      error = e;
      outcome = e instanceof SignalError ? 'signal' : 'error';
    }
    // The task's code ended while the scheduler has the task parked: it left a wait unawaited.
    if (this.running && this.current !== t && outcome !== 'error') {
      this.notAwaited(t, 'the end of its code');
      return;
    }
    this.exit(t, outcome, error);
  }

  private exit(t: Task, outcome: TaskOutcome, error: unknown): void {
    if (this.finished) return;
    t.state = 'done';
    t.outcome = outcome;
    t.error = error;
    if (this.trace.on) {
      const detail = error instanceof Error ? error.message : error === null ? '' : String(error);
      this.trace.emit({ type: 'task-exit', id: t.id, outcome, detail });
    }
    if (outcome === 'error') {
      this.finish('error', t, error);
      return;
    }
    this.dispatch();
  }

  /**
   * Runs every task to completion under `decisions`. Resolves when all non-daemon tasks are done
   * (and daemons idle), when every task waits (deadlock), when a task throws, when a task awaits
   * something outside the model (hung), or at the step limit.
   */
  run(decisions: DecisionSource, options: RunOptions = {}): Promise<RunResult> {
    if (this.running || this.finished) {
      throw new HmmlabError('ERR_STATE', 'Scheduler.run: this scheduler has already run; create a new Kernel');
    }
    if (activeScheduler !== null) {
      throw new HmmlabError(
        'ERR_RUN_ACTIVE',
        'Scheduler.run: another run is in progress in this process; await it before starting the next',
      );
    }
    // Without a source, the first choice between two tasks would fail inside whatever code ran
    // then (a driver's callback, reported as the driver's error): refuse it before anything runs.
    if (typeof (decisions as Partial<DecisionSource> | null | undefined)?.pick !== 'function') {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `Scheduler.run: decisions ${Array.isArray(decisions) ? 'is an array' : `is ${typeof decisions === 'object' && decisions !== null ? 'an object' : String(decisions)}`} without pick(candidates, step); pass a DecisionSource: firstRunnable, arrayDecisions(choices) or seededDecisions(seed)`,
      );
    }
    const maxSteps = options.maxSteps ?? 1_000_000;
    if (!Number.isInteger(maxSteps) || maxSteps <= 0) {
      throw new HmmlabError('ERR_BAD_ARGUMENT', `Scheduler.run: maxSteps ${String(maxSteps)} must be a positive integer`);
    }
    this.maxSteps = maxSteps;
    this.decisions = decisions;
    this.running = true;
    activeScheduler = this;
    const done = new Promise<RunResult>((res, rej) => {
      this.finishRun = res;
      this.failRun = rej;
    });
    this.setupTask.state = 'done';
    this.watchdog();
    this.dispatch();
    return done;
  }

  /**
   * Runs only on a macrotask turn. A run advances purely on microtasks, so if this fires while
   * the run is unfinished, the running task awaits something that is not a model primitive.
   */
  private watchdog(): void {
    this.watchdogTurn = setImmediate(() => {
      this.watchdogTurn = null;
      if (!this.finished) this.finish('hung', this.current, null);
    });
  }

  private finish(status: RunStatus, failed: Task | null, error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.running = false;
    if (this.watchdogTurn !== null) {
      clearImmediate(this.watchdogTurn);
      this.watchdogTurn = null;
    }
    if (activeScheduler === this) activeScheduler = null;
    const deadlock = status === 'deadlock' ? this.deadlockReport() : [];
    const failedContext =
      error instanceof DriverCallbackError ? error.context : failed !== null ? (failed.contexts[failed.contexts.length - 1] ?? null) : null;
    const result: RunResult = {
      status,
      steps: this.step,
      time: this.now,
      decisions: this.decisionLog.slice(),
      failedTask: failed,
      failedContext,
      error,
      deadlock,
      message: this.describe(status, failed, failedContext, error, deadlock),
    };
    this.current = this.setupTask;
    if (this.decisionError !== null) this.failRun?.(this.decisionError);
    else this.finishRun?.(result);
  }

  /**
   * Whether `idx`, a decision source's answer among `n` tasks, ends the run: -1 asks to end it
   * (status `stopped`: a replay that has no recorded decision left), any other value that is no
   * index in `[0, n)` is the source's error, which the run rejects with rather than blame the
   * task that was running (a driver's callback, at a contended trylock).
   */
  private endsRun(idx: number, n: number): boolean {
    if (Number.isInteger(idx) && idx >= 0 && idx < n) return false;
    if (idx === -1) this.requestStop(`the decision source ended the run (pick returned -1 among ${n} tasks)`);
    else {
      this.decisionError = new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `DecisionSource.pick: returned ${String(idx)} at step ${this.step}; expected an index in [0, ${n}), or -1 to end the run`,
      );
      this.requestStop('the decision source failed');
    }
    return true;
  }

  private describe(status: RunStatus, failed: Task | null, ctx: string | null, error: unknown, deadlock: DeadlockEntry[]): string {
    const where = ctx !== null ? ` in ${ctx}` : '';
    switch (status) {
      case 'done':
        return `run finished after ${this.step} steps`;
      case 'stopped':
        return `run stopped at step ${this.step}: ${this.stopReason ?? ''}`;
      case 'step-limit':
        return `run stopped at the step limit (${this.maxSteps} steps): some task keeps retrying without progress${
          failed !== null ? `; the last to run was ${String(failed)}${where}` : ''
        }`;
      case 'error': {
        const msg = error instanceof Error ? error.message : String(error);
        return `task ${String(failed)} threw${where} at step ${this.step}: ${msg}`;
      }
      case 'hung':
        return `task ${String(failed)} is hung${where} at step ${this.step}: it awaits a promise that no model primitive will settle (a timer, I/O, or a promise that never resolves)`;
      case 'deadlock':
        // The step the dispatch that found no task to run had begun: the last one ran the step before.
        return `deadlock at step ${this.step - 1}: ${deadlock
          .map(
            (d) =>
              `${d.task.name}#${d.task.id} waits for ${d.waitsFor}${
                d.heldBy.length > 0 ? ` held by ${d.heldBy.map((h) => `${h.name}#${h.id}`).join(', ')}` : ''
              }`,
          )
          .join('; ')}`;
    }
  }

  private deadlockReport(): DeadlockEntry[] {
    const out: DeadlockEntry[] = [];
    for (const t of this.tasks) {
      if (t.state !== 'blocked') continue;
      out.push({
        task: t,
        waitsFor: t.waitingOn?.name ?? 'an event',
        heldBy: t.waitingOn?.holders().slice() ?? [],
        holds: t.held.names(),
        context: t.contexts[t.contexts.length - 1] ?? null,
      });
    }
    return out;
  }

  private wakeSleepers(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.tasks) {
      if (t.state !== 'sleeping') continue;
      if (t.wakeAt <= this.now) t.state = 'runnable';
      else if (t.wakeAt < next) next = t.wakeAt;
    }
    this.nextWake = next;
  }

  private collectRunnable(): void {
    const c = this.candidates;
    let n = 0;
    for (const t of this.tasks) if (t.state === 'runnable') c[n++] = t;
    if (c.length !== n) c.length = n;
  }

  /**
   * Ends the run at the next scheduling point with status `stopped` (an observer that has seen
   * enough, such as an oracle that found a violation).
   */
  requestStop(reason: string): void {
    if (this.stopReason === null) this.stopReason = reason;
  }

  /** Picks and resumes the next task. Called whenever the running task parks or exits. */
  private dispatch(): void {
    if (this.finished) return;
    if (this.stopReason !== null) {
      this.finish('stopped', null, null);
      return;
    }
    if (this.step >= this.maxSteps) {
      // The task that ran last is one that keeps going (the others may be blocked on it).
      this.finish('step-limit', this.current === this.setupTask ? null : this.current, null);
      return;
    }
    this.step++;
    this.now++;
    if (this.nextWake <= this.now) this.wakeSleepers();
    this.collectRunnable();
    if (this.candidates.length === 0) {
      // Jump time to the next deadline. nextWake may be stale (a sleeper woken early by wake()
      // left it behind), so keep jumping until a sleeper wakes or none is left.
      while (this.candidates.length === 0 && this.nextWake !== Number.POSITIVE_INFINITY) {
        this.now = this.nextWake;
        this.wakeSleepers();
        this.collectRunnable();
      }
      if (this.candidates.length === 0) {
        const blocked = this.tasks.some((t) => t.state === 'blocked');
        this.finish(blocked ? 'deadlock' : 'done', null, null);
        return;
      }
    }
    let idx = 0;
    const n = this.candidates.length;
    if (n > 1) {
      idx = (this.decisions as DecisionSource).pick(this.candidates, this.step);
      if (this.endsRun(idx, n)) {
        this.finish('stopped', null, null);
        return;
      }
      this.decisionLog.push(idx);
    }
    // The tasks not picked wait for the schedule, not for the machine: their clocks stand still.
    for (let i = 0; i < n; i++) if (i !== idx) (this.candidates[i] as Task).heldBack++;
    const t = this.candidates[idx] as Task;
    t.state = 'running';
    t.waitingOn = null;
    this.current = t;
    if (this.trace.switches) this.trace.emit({ type: 'switch', to: t.id, choices: n });
    else if (this.trace.on) this.trace.skip();
    const r = t.resume as () => void;
    t.resume = null;
    r();
  }

  /**
   * @internal A trylock of a free lock by a task in a non-blockable notifier callback whose
   * failure the kernel can take (an interval notifier's, or a classic start's where no interval
   * tree is invalidating; `atomicDepth > 0`, as the OOM reaper's `__oom_reap_task_mm` →
   * `mmu_notifier_invalidate_range_start_nonblock` runs it, mm/oom_kill.c). Critical sections
   * between awaits are atomic here, so the lock is always free when such a trylock runs; on an SMP
   * machine another CPU may hold it at that moment. If another live task has taken the lock
   * before (`lockers`), which of the two gets it is a scheduling decision like any other: the
   * decision source picks between the running task and the lowest-numbered such task, the choice
   * is recorded in the run's decisions (replay stays exact), and true means the other one holds it:
   * the trylock fails. The other CPU lets go: a later trylock of the same lock in the same callback
   * (a spin) is uncontended.
   */
  trylockContended(lockers: ReadonlySet<Task>): boolean {
    const t = this.current;
    if (!this.running || t.atomicDepth === 0 || this.decisions === null) return false;
    // Only callbacks whose failure the kernel can take: interval notifiers, and classic starts
    // where no interval tree is invalidating (a classic start that fails after the tree's
    // succeeded leaves the tree's invalidation open: __mmu_notifier_invalidate_range_start).
    if (t.contendable[t.contendable.length - 1] !== true) return false;
    // The other CPU lets go: a callback that spins on the trylock takes it the next time.
    if (t.contendedIn?.has(lockers) === true) return false;
    let other: Task | null = null;
    for (const o of lockers) if (o !== t && o.state !== 'done' && (other === null || o.id < other.id)) other = o;
    if (other === null) return false;
    const pair = t.id < other.id ? [t, other] : [other, t];
    const idx = this.decisions.pick(pair, this.step);
    // The run ends at the next scheduling point; until then the trylock is uncontended.
    if (this.endsRun(idx, 2)) return false;
    this.decisionLog.push(idx);
    if (pair[idx] !== other) return false;
    (t.contendedIn ??= new Set()).add(lockers);
    return true;
  }

  /**
   * @internal Parks the running task in `state` and runs the next one. The returned promise
   * settles when the scheduler picks this task again.
   */
  park(state: 'runnable' | 'blocked' | 'sleeping' | 'idle', on: Waitable | null): Promise<void> {
    const t = this.current;
    // The run ends there; the code that went on halts at this wait, as below.
    if (this.parkedNow !== null && this.running) this.outsideTask(`a wait on ${on?.name ?? 'a yield point'}`);
    if (!this.running) {
      if (state === 'runnable') return Promise.resolve();
      // After the run has ended (stopped at a violation, or failed), a task of it may still be
      // running driver code: it halts at its next wait, as on a stopped machine, instead of
      // throwing into code that may have dropped the promise (an unhandled rejection).
      if (this.finished) return new Promise<void>(() => {});
      throw new HmmlabError(
        'ERR_NO_TASK',
        `${on?.name ?? 'wait'}: would block outside a task; spawn a task with kernel.spawn() and call it from there`,
      );
    }
    if (t.resume !== null || t.state !== 'running') {
      throw new HmmlabError(
        'ERR_DOUBLE_WAIT',
        `task ${String(t)} waits twice at once (on ${on?.name ?? 'a yield point'}): a promise of a model primitive was not awaited`,
      );
    }
    t.state = state;
    t.waitingOn = on;
    const p = new Promise<void>((res) => {
      t.resume = res;
    });
    if (state === 'sleeping' && t.wakeAt < this.nextWake) this.nextWake = t.wakeAt;
    // Queued before dispatch resumes the next task, so the window closes before that task runs.
    this.parkedNow = t;
    // `then` of a settled promise queues the microtask as `queueMicrotask` would, without the
    // `AsyncResource` Node makes for each `queueMicrotask` (lib/internal/process/task_queues.js).
    RESOLVED.then(this.closeParkWindow);
    this.dispatch();
    return p;
  }

  /**
   * @internal Called by a primitive about to refuse a misuse by the running task (an unlock of a
   * lock it does not hold, held by `holders`): when the code is another task's going on past a
   * wait it did not await ({@link Scheduler.strayCode}), or runs in the window after a park (see
   * {@link Scheduler.parkedNow}), the misuse is a consequence, and that is what gets reported.
   * True when that ended the run: the primitive then returns without acting (the code goes on
   * until its next wait, where it halts).
   */
  checkAwaited(api: string, lock: Waitable, holders: readonly Task[]): boolean {
    if (!this.running) return false;
    const where = `${api}(${lock.name})`;
    if (this.strayCode(where)) return true;
    if (this.parkedNow === null) return false;
    this.outsideTask(where, holders);
    return true;
  }

  /** The task whose code runs here, by the innermost task frame of its async stack; null if none shows. */
  private codeOwner(): Task | null {
    const id = taskOfStack();
    return id > 0 ? (this.tasks[id - 1] ?? null) : null;
  }

  /**
   * @internal Whether the code running now, which reached `where`, is another task's than the
   * running one's: the code of a task that went on past a wait it did not await (its async stack
   * leads to that task's body). Then the run ends with that error, blaming that task, and true is
   * returned. Costs a stack capture: for rare paths, as a report about to blame the running task.
   */
  strayCode(where: string): boolean {
    if (!this.running) return false;
    const owner = this.codeOwner();
    if (owner === null || owner === this.current) return false;
    const on = owner.waitingOn?.name;
    const state = owner.state === 'done' ? 'after its task ended' : `after it blocked${on !== undefined ? ` on ${on}` : ''}`;
    this.endNotAwaited(
      owner,
      `the code of task ${String(owner)} went on ${state}, and reached ${where}${callerFrame()} while task ${String(this.current)} was running`,
    );
    return true;
  }

  /**
   * Code reached `where` between a park and the start of the task picked next, where no task runs
   * it: the task its stack leads to, else the blocked holder of the lock it releases (`holders`),
   * else most often the parked task. The stack names the code.
   */
  private outsideTask(where: string, holders: readonly Task[] = []): void {
    const p = this.parkedNow as Task;
    const code = callerFrame();
    const owner =
      this.codeOwner() ??
      (holders.includes(p) ? p : holders.find((h) => h !== this.current && h.state !== 'running' && h.state !== 'done'));
    if (owner !== undefined && owner !== this.current) {
      const on = owner.waitingOn?.name;
      this.endNotAwaited(
        owner,
        `the code of task ${String(owner)} went on after it blocked${on !== undefined ? ` on ${on}` : ''}, and reached ${where}${code}`,
      );
      return;
    }
    const on = p.waitingOn?.name;
    this.endNotAwaited(
      p,
      `driver code reached ${where}${code} right after task ${String(p)} blocked${on !== undefined ? ` on ${on}` : ''} and before task ${String(this.current)} ran, where no task runs it: ${String(p)}'s code went on past that wait, or a callback returned before a wait of its own had finished and its caller went on`,
    );
  }

  /**
   * @internal `what` (the return of a callback, the end of a task's code or of a work item) came
   * while task `t`, whose code it is, was still blocked: a wait in that code was not awaited. The
   * caller then halts that code (it awaits a promise that never settles).
   */
  notAwaited(t: Task, what: string): void {
    const on = t.waitingOn?.name;
    this.endNotAwaited(t, `${what} came while task ${String(t)} was still blocked${on !== undefined ? ` on ${on}` : ''}`);
  }

  /**
   * Ends the run with status `error`, blaming `t` and the callback it was in (nothing is thrown:
   * into code that dropped a promise, a throw would become an unhandled rejection): a promise of a model
   * primitive was dropped, stored, or combined without being awaited, so driver code ran while the
   * scheduler had given the CPU to another task, and what it did would be credited to that task.
   */
  private endNotAwaited(t: Task, fact: string): void {
    const err = new HmmlabError(
      'ERR_NOT_AWAITED',
      `${fact}. A promise of a model primitive was not awaited at once (dropped with \`void\`, stored for later, or combined with others in Promise.all or Promise.race, whose second wait starts while the first blocks); in the kernel a wait blocks its caller until it returns, and a thread waits for one thing at a time: await every primitive that returns a promise, one after the other`,
    );
    if (this.running) {
      t.state = 'done';
      t.outcome = 'error';
      t.error = err;
      this.finish('error', t, err);
    }
  }

  /** @internal Makes a blocked, idle or sleeping task runnable again. */
  wake(t: Task): void {
    if (t.state === 'blocked' || t.state === 'idle' || t.state === 'sleeping') t.state = 'runnable';
  }

  /** A preemption point: another task may run before the current one continues. */
  yield(): Promise<void> {
    // Fast path: when no other task could run, the scheduler has no choice to make; the step is
    // counted without a switch (and without allocating a promise).
    if (
      this.running &&
      this.stopReason === null &&
      this.parkedNow === null &&
      this.step + 1 < this.maxSteps &&
      this.current.resume === null &&
      !this.otherCanRun()
    ) {
      this.step++;
      this.now++;
      return RESOLVED;
    }
    return this.park('runnable', null);
  }

  /**
   * @internal True when the running task can take its next step without a scheduling choice (no
   * other task could run): callers may then do a whole uncontended operation synchronously,
   * counting its preemption points with {@link Scheduler.tick}.
   */
  alone(): boolean {
    return (
      this.running &&
      this.stopReason === null &&
      this.parkedNow === null &&
      this.step + 4 < this.maxSteps &&
      this.current.resume === null &&
      !this.otherCanRun()
    );
  }

  /** @internal Counts a preemption point taken on the fast path (see {@link Scheduler.alone}). */
  tick(): void {
    this.step++;
    this.now++;
  }

  /** True if a task other than the running one is runnable, or a sleeper is due by the next tick. */
  private otherCanRun(): boolean {
    const cur = this.current;
    const now = this.now + 1;
    const tasks = this.tasks;
    // An index loop: a for-of's iterator protocol is most of the bytecode of this check, which
    // the fault fast path inlines.
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i] as Task;
      if (t === cur) continue;
      if (t.state === 'runnable' || (t.state === 'sleeping' && t.wakeAt <= now)) return true;
    }
    return false;
  }

  /**
   * Model time as the running task sees it: {@link Scheduler.now} less the ticks the task was
   * runnable while another ran ({@link Task.heldBack}). One interleaving runs the tasks one step
   * at a time, where a machine runs each on its own CPU at once; a task the schedule holds back
   * for long would otherwise see a timeout (`HMM_RANGE_DEFAULT_TIMEOUT`) run out in a loop that
   * made a single attempt. Time the task blocks on a lock or sleeps still counts. Outside a task,
   * `now`.
   */
  clock(): number {
    return this.running ? this.now - this.current.heldBack : this.now;
  }

  /** Sleeps `ticks` of model time (`msleep`, `schedule_timeout`). */
  sleep(ticks: number, what = 'msleep'): Promise<void> {
    this.mightSleep(what);
    this.current.wakeAt = this.now + Math.max(1, ticks);
    return this.park('sleeping', null);
  }

  /**
   * @internal Called by every primitive that may sleep. In a non-blockable context it records a
   * `sleep-in-atomic` event (the kernel's "sleeping function called from invalid context").
   */
  mightSleep(what: string): void {
    const t = this.current;
    if (t.atomicDepth > 0 && this.trace.on) {
      this.trace.emit({ type: 'sleep-in-atomic', what, context: t.contexts[t.contexts.length - 1] ?? '' });
    }
  }
}

/**
 * A preemption point in the current run (`cond_resched()`): lets another task run. Outside a run
 * it does nothing.
 */
export function yieldPoint(): Promise<void> {
  const s = activeScheduler;
  return s === null ? Promise.resolve() : s.yield();
}
