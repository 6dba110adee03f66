/**
 * The oracle's running state: active invalidations (with what their callbacks did and which
 * translations existed when they started), translations a device kept under a legal skip, the
 * recent trace, the flush metrics and the coverage cells reached.
 */
import { HmmlabError, type TraceEvent } from '@hmmlab/core';

/** An invalidation in progress. */
export interface ActiveInvalidation {
  readonly id: number;
  readonly mm: number;
  readonly event: number;
  readonly start: number;
  readonly end: number;
  readonly owner: unknown;
  readonly blockable: boolean;
  /** A device fault was in flight when the invalidation started (a race window coverage records). */
  readonly duringFault: boolean;
  /** The task that started it: its callbacks run in that task (`mmu_notifier_invalidate_range_start`). */
  readonly task: number;
  /** All start callbacks returned ('inv-started'). */
  started: boolean;
  /** Events of the callback phase: callbacks, set_seq, device entry clears, TLB flushes. */
  readonly callbackEvents: TraceEvent[];
  /** Translations held at 'inv-start', by {@link translationKey} → device entry. */
  readonly before: Map<number, { vmId: number; vpn: number; entry: number; device: string }>;
  /** {@link translationKey}s of translations that had to go when an entry changed. */
  readonly needed: Set<number>;
  /**
   * What the callbacks did about each device address space, as a coverage outcome, by its id
   * (rules/missed-flush.ts; final once `started`).
   */
  readonly outcomes: Map<number, string>;
  /**
   * The coverage cells of entry changes once `started`, by device address space id and page kind:
   * [unmapped, mapped] (rules/missed-flush.ts).
   */
  readonly pteCells: Map<number, Map<string, readonly [unmapped: string, mapped: string]>>;
}

/** Device address spaces a translation key tells apart (far more than a run creates). */
const VM_KEYS = 65536;

/**
 * The key of the translation of page `vpn` in device address space `vmId`: one number, so that
 * the oracle builds no string per entry change (virtual page numbers stay below 2^36, so the key
 * stays below 2^52, an exact integer).
 */
export function translationKey(vmId: number, vpn: number): number {
  if (vmId >= VM_KEYS)
    throw new HmmlabError('ERR_STATE', `device address space ${vmId}: the oracle tells apart only the first ${VM_KEYS} of a run`);
  return vpn * VM_KEYS + vmId;
}

/** Counts of device flushes, per invalidation event. */
export interface FlushCounts {
  /** Translations that had to go because the CPU entry changed: removed in time, missed, or legally skipped. */
  needed: number;
  /** Translations removed during the callbacks. */
  performed: number;
  /** Needed but still there when the entry changed (each is a violation). */
  missed: number;
  /** Removed although the entry did not change in a way that required it, or the skip was legal. */
  unnecessary: number;
  /** Needed, but the invalidation was the device's own MIGRATE/EXCLUSIVE and it kept the translation. */
  legalSkips: number;
}

/** A new zeroed {@link FlushCounts}. */
export function emptyCounts(): FlushCounts {
  return { needed: 0, performed: 0, missed: 0, unnecessary: 0, legalSkips: 0 };
}

/**
 * Whether `b`, which came right after `a` (scheduler switches aside), is one more of the same bulk
 * work: the same kind of event by the same task, differing only in the page it is about (a THP's
 * 512 entry changes at an exit, the 512 stores that populate it, a migration's page copies). Only the
 * kinds the model emits page by page qualify; their fields other than the page's are compared.
 */
function sameBulkWork(a: TraceEvent, b: TraceEvent): boolean {
  if (a.type !== b.type || a.task !== b.task) return false;
  switch (b.type) {
    case 'pte': {
      const x = a as typeof b;
      return x.mm === b.mm && x.inv === b.inv && x.why === b.why;
    }
    case 'page-alloc':
      return (a as typeof b).kind === b.kind;
    case 'page-free':
      return true;
    case 'cpu-access': {
      const x = a as typeof b;
      return x.mm === b.mm && x.write === b.write;
    }
    case 'page-copy':
      return (a as typeof b).by === b.by;
    case 'migrate-pair':
      return (a as typeof b).owner === b.owner;
    case 'dev-pte': {
      const x = a as typeof b;
      return x.dev === b.dev && x.vm === b.vm && x.why === b.why;
    }
    case 'dev-tlb': {
      const x = a as typeof b;
      return b.op === 'fill' && x.op === 'fill' && x.dev === b.dev && x.vm === b.vm;
    }
    case 'dev-access': {
      const x = a as typeof b;
      return x.dev === b.dev && x.vm === b.vm && x.kind === b.kind && x.via === b.via && x.driver === b.driver;
    }
    case 'dma': {
      const x = a as typeof b;
      return x.dev === b.dev && x.op === b.op && x.write === b.write;
    }
    default:
      return false;
  }
}

/** Events of a report's trace window left out between two it keeps (`Violation.elided`). */
export interface ElidedEvents {
  /** Sequence number of the kept event they came before. */
  readonly before: number;
  /** How many there were: all the same bulk work (the same kind of event by the same task, other pages) as the kept events on either side. */
  readonly count: number;
}

/**
 * The last `size` entries of the trace, scheduler switches left out. A run of events that are the
 * same bulk work ({@link sameBulkWork}) takes two entries, its first and its last event, whatever
 * its length: a THP's 512 entry changes would otherwise fill the window and push out the events
 * that explain the report.
 */
export class RecentEvents {
  private readonly buf: (TraceEvent | undefined)[];
  /** For each slot, how many events of a bulk run were left out just before its event. */
  private readonly gaps: number[];
  private head = 0;
  private last: TraceEvent | undefined = undefined;
  /** The length of the bulk run {@link last} ends (1: it starts none). */
  private run = 0;

  constructor(size: number) {
    this.buf = new Array(size);
    this.gaps = new Array<number>(size).fill(0);
  }

  push(e: TraceEvent): void {
    if (e.type === 'switch') return;
    const last = this.last;
    this.last = e;
    const like = last !== undefined && last.type === e.type && sameBulkWork(last, e);
    if (like && this.run >= 2) {
      // The run's last event so far becomes one of those left out; `e` takes its slot.
      const slot = (this.head + this.buf.length - 1) % this.buf.length;
      this.buf[slot] = e;
      this.gaps[slot] = (this.gaps[slot] as number) + 1;
      this.run++;
      return;
    }
    this.run = like ? 2 : 1;
    this.buf[this.head] = e;
    this.gaps[this.head] = 0;
    this.head = (this.head + 1) % this.buf.length;
  }

  /** The events kept, oldest first, and the runs left out between them. */
  list(): { events: TraceEvent[]; elided: ElidedEvents[] } {
    const events: TraceEvent[] = [];
    const elided: ElidedEvents[] = [];
    for (let i = 0; i < this.buf.length; i++) {
      const slot = (this.head + i) % this.buf.length;
      const e = this.buf[slot];
      if (e === undefined) continue;
      const gap = this.gaps[slot] as number;
      // A run whose first event left the window is shown from the event that is left.
      if (gap > 0 && events.length > 0) elided.push({ before: e.seq, count: gap });
      events.push(e);
    }
    return { events, elided };
  }
}
