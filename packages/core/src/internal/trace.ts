/**
 * The typed event trace. Every state change of the model is an event; the oracle is built only on
 * this trace and on device state. Packages above core add their own event kinds by augmenting
 * {@link TraceEventMap}.
 */

/** What kind of actor a task models. */
export type TaskKind = 'cpu' | 'device' | 'driver' | 'kernel';

/** How a task ended. */
export type TaskOutcome = 'done' | 'signal' | 'error' | 'killed';

/**
 * Payloads of the core's trace events, keyed by event type. Augment it (`declare module
 * '@hmmlab/core' { interface TraceEventMap { ... } }`) to add event kinds of your own.
 */
export interface TraceEventMap {
  'task-spawn': { id: number; name: string; kind: TaskKind };
  'task-exit': { id: number; outcome: TaskOutcome; detail: string };
  /** The scheduler resumed task `to` after a choice among `choices` runnable tasks. */
  switch: { to: number; choices: number };
  lock: {
    lock: string;
    op: 'acquire' | 'release' | 'wait' | 'trylock-fail';
    mode: 'excl' | 'read' | 'write';
  };
  /** A blocking primitive was used where sleeping is not allowed (non-blockable notifier range). */
  'sleep-in-atomic': { what: string; context: string };
  /** Start of one invalidation (`mmu_notifier_invalidate_range_start`). */
  'inv-start': {
    inv: number;
    mm: number;
    event: number;
    start: number;
    end: number;
    owner: unknown;
    blockable: boolean;
  };
  /**
   * Every start callback of invalidation `inv` returned: from here until 'inv-end' the core may
   * change the range's entries, and devices must no longer use translations of it.
   */
  'inv-started': { inv: number };
  /** A notifier callback was entered or returned. */
  'inv-callback': {
    inv: number;
    sub: string;
    op: 'invalidate' | 'invalidate-range-start' | 'invalidate-range-end' | 'release' | 'arch-invalidate-secondary-tlbs';
    phase: 'enter' | 'return';
    result: number | boolean | null;
    /** On return: locks the callback took and still held. */
    leaked: string[];
  };
  /**
   * `mmu_interval_set_seq` was called on notifier `id` (its insertion order, unique in the kernel):
   * a store to its sequence.
   */
  'set-seq': { sub: string; id: number; curSeq: number };
  /**
   * A driver read notifier `id`'s sequence: `mmu_interval_read_retry` (a plain load), or
   * `mmu_interval_check_retry` (`atomic`, a `READ_ONCE`), against the `seq` its read_begin returned.
   */
  'read-retry': { sub: string; id: number; seq: number; atomic: boolean };
  /** End of one invalidation (`mmu_notifier_invalidate_range_end`), or its abort with -EAGAIN. */
  'inv-end': { inv: number; aborted: boolean };
  /** A CPU page-table entry changed. `inv` is the invalidation it happened under, or -1. */
  pte: { mm: number; va: number; old: number; new: number; inv: number; why: string };
  'page-alloc': { pfn: number; kind: string };
  /** `migrate_vma_pages` / `migrate_device_pages`: the entry moving from `src` will map `dst`. */
  'migrate-pair': { src: number; dst: number; owner: unknown };
  /** fork: `child` is a copy of `parent`'s address space. */
  fork: { parent: number; child: number };
  /** mremap moved `[from, from+len)` of `mm` to `to`. */
  mremap: { mm: number; from: number; to: number; len: number };
  'page-free': { pfn: number };
  /** Contents of page `src` copied to page `dst`, by whom (`cow`, `swap-in`, a driver's name). */
  'page-copy': { src: number; dst: number; by: string };
  /** A CPU load or store hit page `pfn` at `va`. */
  'cpu-access': { mm: number; va: number; write: boolean; value: number; pfn: number };
  /** Driver code (`context`) returned while still holding locks it took. */
  'lock-leak': { context: string; locks: string[] };
  /** A kernel WARN (the model reports it, and carries on as the kernel does). */
  warn: { what: string; detail: string };
  /** A VMA-level operation (mmap, munmap, mprotect, mremap, madvise, fork, exit). */
  vma: { mm: number; op: string; start: number; end: number; detail: string };
}

/** One trace event: its payload plus sequence number, scheduler step and running task id. */
export type TraceEvent = {
  [K in keyof TraceEventMap]: TraceEventMap[K] & {
    readonly type: K;
    seq: number;
    step: number;
    task: number;
  };
}[keyof TraceEventMap];

/** The argument of {@link Trace.emit}: an event without the fields the trace fills in. */
export type TraceEventInput = {
  [K in keyof TraceEventMap]: TraceEventMap[K] & { readonly type: K };
}[keyof TraceEventMap];

/** A function called synchronously for every event, at the moment it happens. */
export type TraceListener = (event: TraceEvent) => void;

/** Where the trace gets the step and task of an event. */
export interface TraceClock {
  readonly step: number;
  currentTaskId(): number;
}

/** How much of the trace is kept. */
export type TraceRecordMode = 'none' | 'ring' | 'all';

/**
 * The event trace. Listeners see every event online; the trace also keeps the last `ringSize`
 * events (`'ring'`, the default) or all of them (`'all'`) for reports.
 */
export class Trace {
  /** True when any event would be observed: hot paths check it before building an event. */
  on: boolean;
  private readonly listeners: TraceListener[] = [];
  private readonly ring: (TraceEvent | undefined)[];
  private ringHead = 0;
  private readonly all: TraceEvent[] = [];
  private readonly mode: TraceRecordMode;
  private seq = 0;
  private clock: TraceClock = { step: 0, currentTaskId: () => -1 };

  /**
   * @param mode - what to keep: nothing, the last `ringSize` events, or everything.
   * @param ringSize - @defaultValue 4096
   */
  constructor(mode: TraceRecordMode = 'ring', ringSize = 4096) {
    this.mode = mode;
    this.ring = mode === 'ring' ? new Array(ringSize) : [];
    this.on = mode !== 'none';
  }

  /** @internal Connects the trace to the scheduler that stamps its events. */
  attachClock(clock: TraceClock): void {
    this.clock = clock;
  }

  /** Adds a listener called synchronously for each event; returns a function that removes it. */
  subscribe(listener: TraceListener): () => void {
    this.listeners.push(listener);
    this.on = true;
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
      this.on = this.mode !== 'none' || this.listeners.length > 0;
    };
  }

  /** Records an event and hands it to every listener. Callers check {@link Trace.on} first. */
  emit(input: TraceEventInput): TraceEvent {
    const ev = input as TraceEvent;
    ev.seq = this.seq++;
    ev.step = this.clock.step;
    ev.task = this.clock.currentTaskId();
    if (this.mode === 'ring') {
      this.ring[this.ringHead] = ev;
      this.ringHead = (this.ringHead + 1) % this.ring.length;
    } else if (this.mode === 'all') {
      this.all.push(ev);
    }
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i]?.(ev);
    return ev;
  }

  /** Number of events emitted so far. */
  get length(): number {
    return this.seq;
  }

  /** The kept events, oldest first. */
  events(): TraceEvent[] {
    if (this.mode === 'all') return this.all.slice();
    if (this.mode === 'none') return [];
    const out: TraceEvent[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const ev = this.ring[(this.ringHead + i) % this.ring.length];
      if (ev !== undefined) out.push(ev);
    }
    return out;
  }
}
