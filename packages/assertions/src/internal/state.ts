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

/** Fixed-size ring of the last events. */
export class RecentEvents {
  private readonly buf: (TraceEvent | undefined)[];
  private head = 0;

  constructor(size: number) {
    this.buf = new Array(size);
  }

  push(e: TraceEvent): void {
    this.buf[this.head] = e;
    this.head = (this.head + 1) % this.buf.length;
  }

  /**
   * The events among the last `size` of the trace (sequence numbers from `length - size`, `length`
   * being the trace's), oldest first, without scheduler switches. A listener that does without
   * switches keeps the same window: each switch still takes its sequence number.
   */
  list(length: number): TraceEvent[] {
    const out: TraceEvent[] = [];
    const from = length - this.buf.length;
    for (let i = 0; i < this.buf.length; i++) {
      const e = this.buf[(this.head + i) % this.buf.length];
      if (e !== undefined && e.type !== 'switch' && e.seq >= from) out.push(e);
    }
    return out;
  }
}
