/**
 * The decision tables `explain` prints, for TypeScript drivers and kernel C alike: their rows,
 * the columns both checkers fill the same way, and the text. A module without ts-morph, so that
 * the C commands load none of it.
 */
import { ALL_EVENTS, eventSetText, NONBLOCKABLE_EVENTS } from './model/values.js';

/** One path of a callback. */
export interface DecisionRow {
  /** `any event`, `MMU_NOTIFY_MIGRATE`, `not {MMU_NOTIFY_MIGRATE, MMU_NOTIFY_EXCLUSIVE}`, … */
  readonly event: string;
  /** Whether `range.owner` equals the driver's own owner on this path. */
  readonly owner: 'own' | 'not own' | 'any';
  /** Whether `mmuNotifierRangeBlockable(range)` is true on this path. */
  readonly blockable: 'yes' | 'no' | 'any';
  /** Other tests the path decided (trylocks and driver state): each `test` as written, and its `value` on the path. */
  readonly state: readonly { readonly test: string; readonly value: boolean }[];
  /** Device invalidations in order (`clearRange(vm)`, `flushTlb(vm)`, `quiesce(dev)`). */
  readonly flushes: readonly string[];
  /** Whether the path calls `mmuIntervalSetSeq`. */
  readonly setSeq: boolean;
  /** Locks held when `mmuIntervalSetSeq` is called. */
  readonly setSeqUnder: readonly string[];
  /** What the callback returns: `true`, `false`, `0`, `-11`, … */
  readonly returns: string;
}

/** The decision table of one callback. */
export interface DecisionTable {
  /** The callback's name (`ops.invalidate`, `Class.method`). */
  readonly callback: string;
  /** An interval notifier's `invalidate`, or a classic notifier's `invalidateRangeStart`. */
  readonly kind: 'interval' | 'start';
  /** Path of the file. */
  readonly file: string;
  /** 1-based line of the callback. */
  readonly line: number;
  /** True if the path budget ran out: some paths are missing. */
  readonly truncated: boolean;
  /** One row per path through the callback. */
  readonly rows: readonly DecisionRow[];
}

/** What {@link explain} returns: the tables, and the same as text. */
export interface ExplainResult {
  /** One table per callback found. */
  readonly tables: DecisionTable[];
  /** The tables as text, as `hmmlab explain` prints them. */
  readonly text: string;
}

/** What a path of a callback knows of its range: the events, the owner test and blockability. */
interface RangeFacts {
  readonly events: number;
  readonly own?: boolean | undefined;
  readonly blockable?: boolean | undefined;
  readonly effects: readonly ({ readonly t: string } | { readonly t: 'set-seq'; readonly held: readonly { readonly key: string }[] })[];
}

/**
 * The columns of a decision row that the TypeScript and C checkers share: event, owner and
 * blockability as text, and whether (and under which locks) the path moves the sequence.
 */
export function rowHeader(s: RangeFacts): Pick<DecisionRow, 'event' | 'owner' | 'blockable' | 'setSeq' | 'setSeqUnder'> {
  let setSeq = false;
  const setSeqUnder: string[] = [];
  for (const e of s.effects) {
    if (e.t === 'set-seq' && 'held' in e) {
      setSeq = true;
      setSeqUnder.push(...e.held.map((h) => h.key).filter((k) => !setSeqUnder.includes(k)));
    }
  }
  return {
    event: s.events === ALL_EVENTS ? 'any event' : eventSetText(s.events),
    owner: s.own === undefined ? 'any' : s.own ? 'own' : 'not own',
    // Only the OOM reaper's UNMAP is ever non-blockable.
    blockable: s.blockable === undefined ? ((s.events & NONBLOCKABLE_EVENTS) === 0 ? 'yes' : 'any') : s.blockable ? 'yes' : 'no',
    setSeq,
    setSeqUnder,
  };
}

/** Renders tables as text, one block per callback. */
export function formatTables(tables: readonly DecisionTable[]): string {
  const out: string[] = [];
  for (const t of tables) {
    out.push(`${t.file}:${t.line} ${t.callback} (${t.kind === 'interval' ? 'interval notifier invalidate' : 'invalidateRangeStart'})`);
    const head = ['#', 'event', 'owner', 'blockable', 'driver state', 'flushes', 'set_seq', 'returns'];
    const cells = t.rows.map((r, i) => [
      String(i + 1),
      r.event,
      r.owner,
      r.blockable,
      r.state.map((d) => (d.value ? d.test : `!(${d.test})`)).join('; ') || '-',
      r.flushes.join(', ') || '-',
      r.setSeq ? `yes${r.setSeqUnder.length > 0 ? ` (${r.setSeqUnder.join(', ')})` : ' (no lock)'}` : 'no',
      r.returns,
    ]);
    const widths = head.map((h, c) => Math.max(h.length, ...cells.map((r) => (r[c] as string).length)));
    const line = (r: readonly string[]) => `  ${r.map((v, c) => v.padEnd(widths[c] as number)).join('  ')}`.trimEnd();
    out.push(line(head), ...cells.map(line));
    if (t.truncated) out.push('  (path budget exhausted: some paths are not shown)');
    out.push('');
  }
  return out.length === 0
    ? 'no invalidate callback found. The ops may be registered in another file of the driver (mmuIntervalNotifierInsert, mmuNotifierRegister): give its folder\n'
    : out.join('\n');
}
