/**
 * The timeline as data: one column per trace event (scheduler switches left out), one lane per
 * task, invalidations as spans, the violating page's state as rows, and a mark at each violation.
 * The page script only positions what this computes.
 */
import {
  eventName,
  hex,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_MIGRATION,
  PTE_PRESENT,
  pteKindOf,
  ptePfn,
  type TaskKind,
  type TraceEvent,
} from '@hmmlab/core';
import { devPtePfn, type Scenario } from '@hmmlab/harness';
import { formatEvent, formatOwner, type Violation } from '../report.js';
import { RULES } from '../rules.js';
import { type EventCategory, eventFields, eventGlyph, type FocusPage, touchesFocus } from './event-info.js';
import { type PlacedEvent, type StateRow, type TimelineDevice, vaStateRows } from './va-state.js';

/** A task as the timeline names it. */
export interface TimelineTask {
  /** The task's id. */
  readonly id: number;
  /** Its name. */
  readonly name: string;
  /** What kind of actor it models. */
  readonly kind: TaskKind;
}

/** What {@link renderTimelineHtml} draws. */
export interface TimelineInput {
  /** The violations of the run (the first one with an address picks the page whose state is shown). */
  readonly violations: readonly Violation[];
  /** The whole trace of the run, oldest first (keep it with `trace: 'all'`). */
  readonly events: readonly TraceEvent[];
  /** The scenario that ran. */
  readonly scenario: Scenario;
  /** Task names; tasks missing here are named from their `task-spawn` events. */
  readonly tasks?: readonly TimelineTask[];
  /** Which mm each device VM mirrors, so only the VMs of the violating mm get state rows. */
  readonly devices?: readonly TimelineDevice[];
  /** The driver's name. */
  readonly driver?: string;
  /** The replay token, shown so the reader can rerun the counterexample. */
  readonly token?: string;
  /**
   * How the run ended (`RunResult.status` and `message`).
   * @prop __type.status - how the run ended
   * @prop __type.message - what ended it, or ''
   */
  readonly run?: { readonly status: string; readonly message: string };
  /** Page title. @defaultValue the first rule broken, or "no violation" */
  readonly title?: string;
}

/** One drawn event. Short keys: the page carries thousands of them. */
export interface ModelEvent {
  /** Column. */ readonly c: number;
  /** Lane index. */ readonly l: number;
  /** Trace sequence number. */ readonly q: number;
  /** Scheduler step. */ readonly s: number;
  /** Event type. */ readonly y: string;
  /** Category (colour). */ readonly k: EventCategory;
  /** Glyph. */ readonly g: string;
  /** Full text ({@link formatEvent}). */ readonly t: string;
  /** 1 if it touches the violating page. */ readonly r: 0 | 1;
  /** Payload fields as text. */ readonly f: readonly (readonly [string, string])[];
}

/** One invalidation, from `inv-start` to `inv-end`. */
export interface ModelSpan {
  readonly inv: number;
  /** Sequence number of its `inv-start` event. */
  readonly q: number;
  readonly c0: number;
  /** Column of `inv-started` (callbacks done, entries may change), or -1. */
  readonly cs: number;
  readonly c1: number;
  /** Lane of the task that started it. */
  readonly l: number;
  readonly label: string;
  readonly blockable: boolean;
  /** Never ended within the trace. */
  readonly open: boolean;
  readonly r: 0 | 1;
}

/** A violation's place on the timeline. */
export interface ModelMark {
  readonly c: number;
  readonly q: number;
  readonly step: number;
  readonly rule: string;
  readonly explanation: string;
  readonly holds: string;
}

/** Everything the page script needs. */
export interface TimelineModel {
  readonly cols: number;
  /** First column of each step: [column, step]. */
  readonly steps: readonly (readonly [number, number])[];
  readonly lanes: readonly { readonly id: number; readonly name: string; readonly kind: string }[];
  readonly events: readonly ModelEvent[];
  readonly spans: readonly ModelSpan[];
  readonly focus: { readonly va: string; readonly mm: number | null } | null;
  readonly rows: readonly StateRow[];
  readonly marks: readonly ModelMark[];
}

const KIND_ORDER: readonly string[] = ['cpu', 'device', 'driver', 'kernel'];

function lanesOf(input: TimelineInput): TimelineTask[] {
  const byId = new Map<number, TimelineTask>();
  for (const e of input.events) if (e.type === 'task-spawn') byId.set(e.id, { id: e.id, name: e.name, kind: e.kind });
  for (const t of input.tasks ?? []) byId.set(t.id, { id: t.id, name: t.name, kind: t.kind });
  for (const e of input.events) {
    if (!byId.has(e.task)) byId.set(e.task, { id: e.task, name: e.task === 0 ? 'setup' : `task${e.task}`, kind: 'kernel' });
  }
  return [...byId.values()].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.id - b.id);
}

function focusOf(input: TimelineInput, pageSize: number): FocusPage | null {
  const v = input.violations.find((x) => x.va !== null);
  if (v === undefined || v.va === null) return null;
  const va = v.va - (v.va % pageSize);
  const pfns = new Set<number>();
  if (v.page !== null) pfns.add(v.page.pfn);
  const onPage = (x: number): boolean => x - (x % pageSize) === va;
  for (const e of input.events) {
    if (e.type === 'pte' && onPage(e.va) && (v.mm === null || e.mm === v.mm)) {
      for (const p of [e.old, e.new]) {
        const k = pteKindOf(p);
        if (k === PTE_PRESENT || k === PTE_DEVICE_PRIVATE || k === PTE_MIGRATION || k === PTE_DEVICE_EXCLUSIVE) pfns.add(ptePfn(p));
      }
    } else if (e.type === 'dev-pte' && onPage(e.va)) {
      for (const p of [e.old, e.new]) if (p !== 0) pfns.add(devPtePfn(p));
    }
  }
  return { mm: v.mm, va, pageSize, pfns };
}

/** Builds the timeline's data from a run. */
export function buildTimelineModel(input: TimelineInput): TimelineModel {
  const pageSize = input.scenario.pageSize ?? 4096;
  const tasks = lanesOf(input);
  const laneOf = new Map(tasks.map((t, i) => [t.id, i]));
  const focus = focusOf(input, pageSize);
  const violSeqs = new Set(input.violations.map((v) => v.seq));
  const relatedInvs = new Set<number>();
  const placed: PlacedEvent[] = [];
  const events: ModelEvent[] = [];
  const steps: [number, number][] = [];
  const colOfSeq = new Map<number, number>();
  for (const e of input.events) {
    if (e.type === 'switch') continue;
    const col = placed.length;
    placed.push({ e, col });
    colOfSeq.set(e.seq, col);
    if (steps.length === 0 || (steps[steps.length - 1] as [number, number])[1] !== e.step) steps.push([col, e.step]);
    if (focus !== null && e.type === 'inv-start' && touchesFocus(e, focus)) relatedInvs.add(e.inv);
    const invOf = e.type === 'inv-started' || e.type === 'inv-end' || e.type === 'inv-callback' ? e.inv : -1;
    const related = violSeqs.has(e.seq) || relatedInvs.has(invOf) || (focus !== null && touchesFocus(e, focus));
    const { cat, glyph } = eventGlyph(e);
    events.push({
      c: col,
      l: laneOf.get(e.task) ?? 0,
      q: e.seq,
      s: e.step,
      y: e.type,
      k: cat,
      g: glyph,
      t: formatEvent(e),
      r: related ? 1 : 0,
      f: eventFields(e),
    });
  }
  const cols = placed.length;
  const spans: ModelSpan[] = [];
  const open = new Map<number, { e: Extract<TraceEvent, { type: 'inv-start' }>; c0: number; cs: number }>();
  const close = (inv: number, c1: number, ended: boolean): void => {
    const s = open.get(inv);
    if (s === undefined) return;
    open.delete(inv);
    const e = s.e;
    spans.push({
      inv,
      q: e.seq,
      c0: s.c0,
      cs: s.cs,
      c1,
      l: laneOf.get(e.task) ?? 0,
      label: `inv #${inv} ${eventName(e.event)} [${hex(e.start)}, ${hex(e.end)}) owner=${formatOwner(e.owner)} ${e.blockable ? 'blockable' : 'NON-BLOCKABLE'}`,
      blockable: e.blockable,
      open: !ended,
      r: relatedInvs.has(inv) ? 1 : 0,
    });
  };
  for (const { e, col } of placed) {
    if (e.type === 'inv-start') open.set(e.inv, { e, c0: col, cs: -1 });
    else if (e.type === 'inv-started') {
      const s = open.get(e.inv);
      if (s !== undefined) s.cs = col;
    } else if (e.type === 'inv-end') close(e.inv, col + 1, true);
  }
  for (const inv of [...open.keys()]) close(inv, cols, false);
  spans.sort((a, b) => a.c0 - b.c0 || a.inv - b.inv);
  const marks = input.violations.map((v): ModelMark => {
    let c = colOfSeq.get(v.seq);
    if (c === undefined) {
      const before = placed.filter((p) => p.e.seq <= v.seq);
      c = before.length > 0 ? (before[before.length - 1] as PlacedEvent).col : 0;
    }
    return { c, q: v.seq, step: v.step, rule: v.rule, explanation: v.explanation, holds: RULES[v.rule].holds };
  });
  return {
    cols,
    steps,
    lanes: tasks.map((t) => ({ id: t.id, name: `${t.name}#${t.id}`, kind: t.kind })),
    events,
    spans,
    focus: focus === null ? null : { va: hex(focus.va), mm: focus.mm },
    rows: focus === null ? [] : vaStateRows(placed, focus, cols, input.devices),
    marks,
  };
}
