/**
 * The typed event trace. Every state change of the model is an event; the oracle is built only on
 * this trace and on device state. Packages above core add their own event kinds by augmenting
 * {@link TraceEventMap}.
 */

import { HmmlabError } from './errors.js';

/** What kind of actor a task models. */
export type TaskKind = 'cpu' | 'device' | 'driver' | 'kernel';

/** How a task ended. */
export type TaskOutcome = 'done' | 'signal' | 'error' | 'killed';

/**
 * Payloads of the core's trace events, keyed by event type. Augment it (`declare module
 * '@hmmlab/core' { interface TraceEventMap { ... } }`) to add event kinds of your own.
 */
export interface TraceEventMap {
  /**
   * A task was spawned.
   * @prop __type.id - the task's id
   * @prop __type.name - its name
   * @prop __type.kind - what kind of actor it models
   */
  'task-spawn': { id: number; name: string; kind: TaskKind };
  /**
   * A task ended.
   * @prop __type.id - the task's id
   * @prop __type.outcome - how it ended
   * @prop __type.detail - the message of the error or signal that ended it, or ''
   */
  'task-exit': { id: number; outcome: TaskOutcome; detail: string };
  /**
   * The scheduler resumed task `to` after a choice among `choices` runnable tasks.
   * @prop __type.to - the id of the task that runs next
   * @prop __type.choices - how many tasks were runnable
   */
  switch: { to: number; choices: number };
  /** A task took, released, waited for or failed to try-lock a lock. */
  lock: {
    /** The lock's name. */
    lock: string;
    /** What happened. */
    op: 'acquire' | 'release' | 'wait' | 'trylock-fail';
    /** Exclusive (a mutex, a spinlock), or the side of a reader-writer lock. */
    mode: 'excl' | 'read' | 'write';
  };
  /**
   * A blocking primitive was used where sleeping is not allowed (non-blockable notifier range).
   * @prop __type.what - the blocking primitive (`mutex_lock`, `wait_event`, …)
   * @prop __type.context - the driver-callback context it was used in
   */
  'sleep-in-atomic': { what: string; context: string };
  /** Start of one invalidation (`mmu_notifier_invalidate_range_start`). */
  'inv-start': {
    /** Invalidation id, unique in the kernel. */
    inv: number;
    /** Id of the address space. */
    mm: number;
    /** The `MMU_NOTIFY_*` event. */
    event: number;
    /** First address (inclusive). */
    start: number;
    /** End address (exclusive). */
    end: number;
    /** The owner a MIGRATE or EXCLUSIVE invalidation carries. */
    owner: unknown;
    /** Whether callbacks may sleep (`MMU_NOTIFIER_RANGE_BLOCKABLE`). */
    blockable: boolean;
  };
  /**
   * Every start callback of invalidation `inv` returned: from here until 'inv-end' the core may
   * change the range's entries, and devices must no longer use translations of it.
   * @prop __type.inv - the invalidation id
   */
  'inv-started': { inv: number };
  /** A notifier callback was entered or returned. */
  'inv-callback': {
    /** The invalidation id. */
    inv: number;
    /** The subscription's name. */
    sub: string;
    /** Which callback. */
    op: 'invalidate' | 'invalidate-range-start' | 'invalidate-range-end' | 'release' | 'arch-invalidate-secondary-tlbs';
    /** Entered or returned. */
    phase: 'enter' | 'return';
    /** On return: what the callback returned (a bool, an errno or 0), else null. */
    result: number | boolean | null;
    /** On return: locks the callback took and still held. */
    leaked: string[];
  };
  /**
   * `mmu_interval_set_seq` was called on notifier `id` (its insertion order, unique in the kernel):
   * a store to its sequence.
   * @prop __type.sub - the notifier's name
   * @prop __type.id - the notifier's insertion order
   * @prop __type.curSeq - the sequence stored
   */
  'set-seq': { sub: string; id: number; curSeq: number };
  /**
   * A driver read notifier `id`'s sequence: `mmu_interval_read_retry` (a plain load), or
   * `mmu_interval_check_retry` (`atomic`, a `READ_ONCE`), against the sequence its read_begin returned.
   * @prop __type.sub - the notifier's name
   * @prop __type.id - the notifier's insertion order
   * @prop __type.readSeq - the sequence read_begin returned (`seq` is the event's place in the trace, as on every event)
   * @prop __type.atomic - a `READ_ONCE` (`mmu_interval_check_retry`) rather than a plain load
   */
  'read-retry': { sub: string; id: number; readSeq: number; atomic: boolean };
  /**
   * End of one invalidation (`mmu_notifier_invalidate_range_end`), or its abort with -EAGAIN.
   * @prop __type.inv - the invalidation id
   * @prop __type.aborted - ended by -EAGAIN from a non-blockable start
   */
  'inv-end': { inv: number; aborted: boolean };
  /**
   * A CPU page-table entry changed. `inv` is the invalidation it happened under, or -1.
   * @prop __type.mm - id of the address space
   * @prop __type.va - the page's virtual address
   * @prop __type.old - the entry before (0 = none)
   * @prop __type.new - the entry after (0 = none)
   * @prop __type.why - the kernel path that changed it (`anon-fault`, `cow`, `migrate-collect`, `reclaim`, …)
   * @prop __type.inv - the invalidation it happened under, or -1
   */
  pte: { mm: number; va: number; old: number; new: number; inv: number; why: string };
  /**
   * A page was allocated.
   * @prop __type.pfn - its pfn
   * @prop __type.kind - its {@link PageKind}
   */
  'page-alloc': { pfn: number; kind: string };
  /**
   * `migrate_vma_pages` / `migrate_device_pages`: the entry moving from `src` will map `dst`.
   * @prop __type.src - the source entry's pfn
   * @prop __type.dst - the destination pfn
   * @prop __type.owner - the owner of the migration
   */
  'migrate-pair': { src: number; dst: number; owner: unknown };
  /**
   * `split_folio`: the large folio headed by `pfn` became `2^order` base pages.
   * @prop __type.pfn - the head's pfn
   * @prop __type.order - the folio's order before the split
   */
  'folio-split': { pfn: number; order: number };
  /**
   * fork: `child` is a copy of `parent`'s address space.
   * @prop __type.parent - id of the parent's address space
   * @prop __type.child - id of the child's address space
   */
  fork: { parent: number; child: number };
  /**
   * mremap moved `[from, from+len)` of `mm` to `to`.
   * @prop __type.mm - id of the address space
   * @prop __type.from - old start
   * @prop __type.to - new start
   * @prop __type.len - length in bytes
   */
  mremap: { mm: number; from: number; to: number; len: number };
  /**
   * A page went back to the free list (or, for a device page, to its driver).
   * @prop __type.pfn - its pfn
   */
  'page-free': { pfn: number };
  /**
   * Contents of page `src` copied to page `dst`, by whom (`cow`, `swap-in`, a driver's name).
   * @prop __type.src - source pfn
   * @prop __type.dst - destination pfn
   * @prop __type.by - who copied
   */
  'page-copy': { src: number; dst: number; by: string };
  /**
   * A CPU load or store hit page `pfn` at `va`.
   * @prop __type.mm - id of the address space
   * @prop __type.va - the virtual address
   * @prop __type.write - a store (else a load)
   * @prop __type.value - the word stored or loaded
   * @prop __type.pfn - the page hit
   */
  'cpu-access': { mm: number; va: number; write: boolean; value: number; pfn: number };
  /**
   * A CPU fault on a device-private entry (mm/memory.c `do_swap_page`) began or ended: from
   * before it takes the page's reference or lock to after its owner's `migrate_to_ram` returned.
   * @prop __type.mm - id of the address space
   * @prop __type.va - the faulting address
   * @prop __type.pfn - the device page
   * @prop __type.phase - `begin` or `end`
   */
  'private-fault': { mm: number; va: number; pfn: number; phase: 'begin' | 'end' };
  /**
   * Driver code (`context`) returned while still holding locks it took.
   * @prop __type.context - the driver-callback context
   * @prop __type.locks - names of the locks still held
   */
  'lock-leak': { context: string; locks: string[] };
  /**
   * A kernel WARN (the model reports it, and carries on as the kernel does).
   * @prop __type.what - a short name of the warning (`bad-page`, …)
   * @prop __type.detail - what was wrong
   */
  warn: { what: string; detail: string };
  /**
   * A VMA-level operation (mmap, munmap, mprotect, mremap, madvise, fork, exit).
   * @prop __type.mm - id of the address space
   * @prop __type.op - the operation (`mmap`, `munmap`, `mprotect`, `mremap-grow`, `exit`, …)
   * @prop __type.start - first address (inclusive)
   * @prop __type.end - end address (exclusive)
   * @prop __type.detail - more about it, or ''
   */
  vma: { mm: number; op: string; start: number; end: number; detail: string };
}

/**
 * The fields {@link Trace.emit} sets on every event. No payload of {@link TraceEventMap} may use
 * these names: `emit` would overwrite them.
 */
export interface TraceStamp {
  /** Position in the trace, from 0. */
  seq: number;
  /** The scheduler step at which it happened. */
  step: number;
  /** Id of the task that was running, or -1 outside a run. */
  task: number;
}

/** One trace event: its payload plus sequence number, scheduler step and running task id. */
export type TraceEvent = {
  [K in keyof TraceEventMap]: TraceEventMap[K] &
    TraceStamp & {
      /** The event type, a key of {@link TraceEventMap}. */
      readonly type: K;
    };
}[keyof TraceEventMap];

/**
 * The argument of {@link Trace.emit}: an event without the fields the trace fills in; `type` is
 * the event type, a key of {@link TraceEventMap}.
 */
export type TraceEventInput = {
  [K in keyof TraceEventMap]: TraceEventMap[K] & { readonly type: K };
}[keyof TraceEventMap];

/** What a listener of {@link Trace.subscribe} may do without. */
export interface TraceSubscription {
  /** `switch` events (the scheduler makes one at most steps). @defaultValue true */
  readonly switches?: boolean;
  /** `lock` events (locks are taken and released at most steps). @defaultValue true */
  readonly locks?: boolean;
  /** `page-alloc` events (a THP is 512 of them). @defaultValue true */
  readonly allocs?: boolean;
}

/** A function called synchronously for every event, at the moment it happens. */
export type TraceListener = (event: TraceEvent) => void;

/** Where the trace gets the step and task of an event. */
export interface TraceClock {
  readonly step: number;
  currentTaskId(): number;
}

/** The clock of a trace no scheduler stamps (one for all: a trace is made per run). */
const NO_CLOCK: TraceClock = { step: 0, currentTaskId: () => -1 };

/** How much of the trace is kept. */
export type TraceRecordMode = 'none' | 'ring' | 'all';

/**
 * The event trace. Listeners see every event online; the trace also keeps the last `ringSize`
 * events (`'ring'`, the default) or all of them (`'all'`) for reports.
 */
export class Trace {
  /** True when any event would be observed: hot paths check it before building an event. */
  on: boolean;
  /**
   * True when a `switch` event would be observed: the trace keeps events, or a listener wants them
   * (see {@link Trace.subscribe}). The scheduler makes one at most steps.
   */
  switches: boolean;
  /**
   * True when a `lock` event would be observed: the trace keeps events, or a listener wants them
   * (see {@link Trace.subscribe}). Locks are taken and released at most steps; the model makes
   * their events through {@link Trace.lockEvent}.
   */
  locks: boolean;
  /**
   * True when a `page-alloc` event would be observed: the trace keeps events, or a listener wants
   * them (see {@link Trace.subscribe}). The model makes them through {@link Trace.allocEvent}.
   */
  allocs: boolean;
  private readonly listeners: TraceListener[] = [];
  /** The events each listener, by index, wants of those it may do without. */
  private readonly wants: Required<TraceSubscription>[] = [];
  private readonly ring: (TraceEvent | undefined)[];
  private ringHead = 0;
  private readonly all: TraceEvent[] = [];
  private readonly mode: TraceRecordMode;
  private seq = 0;
  private clock: TraceClock = NO_CLOCK;

  /**
   * @param mode - what to keep: nothing, the last `ringSize` events, or everything.
   * @param ringSize - @defaultValue 4096
   */
  constructor(mode: TraceRecordMode = 'ring', ringSize = 4096) {
    // Another word would keep nothing and still report itself on, as a misspelt 'all' did.
    if (mode !== 'none' && mode !== 'ring' && mode !== 'all')
      throw new HmmlabError('ERR_BAD_ARGUMENT', `Trace: mode ${JSON.stringify(mode)}: expected "none", "ring" or "all"`);
    if (!(Number.isSafeInteger(ringSize) && ringSize >= 1))
      throw new HmmlabError('ERR_BAD_ARGUMENT', `Trace: ringSize ${String(ringSize)}: expected an integer ≥ 1`);
    this.mode = mode;
    this.ring = mode === 'ring' ? new Array(ringSize) : [];
    this.on = mode !== 'none';
    this.switches = this.on;
    this.locks = this.on;
    this.allocs = this.on;
  }

  /** @internal Connects the trace to the scheduler that stamps its events. */
  attachClock(clock: TraceClock): void {
    this.clock = clock;
  }

  /**
   * Adds a listener called synchronously for each event; returns a function that removes it. A
   * listener may do without the events the model makes most of, which {@link TraceSubscription}
   * lists: while no listener wants them and the trace keeps nothing, the model does not make them,
   * though each still takes its sequence number ({@link Trace.skip}), so the other events keep theirs.
   */
  subscribe(listener: TraceListener, options: TraceSubscription = {}): () => void {
    this.listeners.push(listener);
    this.wants.push({ switches: options.switches ?? true, locks: options.locks ?? true, allocs: options.allocs ?? true });
    this.listenersChanged();
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) {
        this.listeners.splice(i, 1);
        this.wants.splice(i, 1);
      }
      this.listenersChanged();
    };
  }

  private listenersChanged(): void {
    const kept = this.mode !== 'none';
    this.on = kept || this.listeners.length > 0;
    this.switches = kept || this.wants.some((w) => w.switches);
    this.locks = kept || this.wants.some((w) => w.locks);
    this.allocs = kept || this.wants.some((w) => w.allocs);
  }

  /** Takes the sequence number of an event no one observes (a `switch`, `lock` or `page-alloc` no listener wants). */
  skip(): void {
    this.seq++;
  }

  /**
   * A task took, released, waited for or failed to try-lock lock `lock`: records the `lock` event
   * when one is observed ({@link Trace.locks}), else takes its sequence number.
   */
  lockEvent(lock: string, op: TraceEventMap['lock']['op'], mode: TraceEventMap['lock']['mode']): void {
    if (this.locks) this.emit({ type: 'lock', lock, op, mode });
    else if (this.on) this.seq++;
  }

  /**
   * Page `pfn` was allocated: records the `page-alloc` event when one is observed
   * ({@link Trace.allocs}), else takes its sequence number.
   */
  allocEvent(pfn: number, kind: string): void {
    if (this.allocs) this.emit({ type: 'page-alloc', pfn, kind });
    else if (this.on) this.seq++;
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

  /** The newest kept event (`events().at(-1)`, without copying the kept events), if any. */
  last(): TraceEvent | undefined {
    if (this.mode === 'all') return this.all.at(-1);
    if (this.mode === 'none') return undefined;
    return this.ring[(this.ringHead + this.ring.length - 1) % this.ring.length];
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
