/**
 * How the timeline shows one trace event: its category (colour), a glyph of a few characters, its
 * fields as text, and whether it touches the page the report is about.
 */
import { eventName, formatPte, hex, type TraceEvent } from '@hmmlab/core';
import { formatDevPte } from '@hmmlab/harness';
import { formatOwner } from '../report.js';

/** Colour classes of events. */
export type EventCategory = 'inv' | 'callback' | 'cpu' | 'device' | 'tlb' | 'access' | 'page' | 'lock' | 'task' | 'mm' | 'warn';

/** Category and glyph of an event. */
export function eventGlyph(e: TraceEvent): { readonly cat: EventCategory; readonly glyph: string } {
  switch (e.type) {
    case 'inv-start':
      return { cat: 'inv', glyph: 'inv' };
    case 'inv-started':
      return { cat: 'inv', glyph: '▸' };
    case 'inv-end':
      return { cat: 'inv', glyph: e.aborted ? 'abt' : 'end' };
    case 'inv-callback':
      return { cat: 'callback', glyph: e.phase === 'enter' ? 'cb' : e.result === false ? 'ret✗' : 'ret' };
    case 'set-seq':
      return { cat: 'callback', glyph: 'seq' };
    case 'read-retry':
      return { cat: 'access', glyph: 'rtr' };
    case 'pte':
      return { cat: 'cpu', glyph: 'pte' };
    case 'cpu-access':
      return { cat: 'access', glyph: e.write ? 'W' : 'R' };
    case 'private-fault':
      return { cat: 'cpu', glyph: e.phase === 'begin' ? 'cfl' : 'c✓' };
    case 'dev-pte':
      return { cat: 'device', glyph: e.new === 0 ? 'dp✗' : 'dpt' };
    case 'dev-tlb':
      return { cat: 'tlb', glyph: e.op === 'fill' ? 'tlb' : e.op === 'flush-issue' ? 'fl' : 'fl✓' };
    case 'dev-access':
      return { cat: 'access', glyph: e.kind === 'read' ? 'dR' : e.kind === 'write' ? 'dW' : 'dA' };
    case 'dev-fault':
      return { cat: 'device', glyph: e.phase === 'begin' ? 'flt' : e.fatal ? 'FLT' : 'f✓' };
    case 'dev-retry':
      return { cat: 'device', glyph: e.phase === 'begin' ? 'rty' : e.result === 0 ? 'r✓' : 'RTY' };
    case 'dev-queue':
      return { cat: 'device', glyph: e.op === 'quiesce' ? 'Q■' : 'Q▶' };
    case 'dev-vm':
      return {
        cat: 'device',
        glyph: e.op === 'use-after-free' ? 'UAF' : e.op === 'destroy' ? 'vm✗' : e.op === 'unbind-start' ? 'ub' : 'ub✓',
      };
    case 'dma':
      return { cat: 'device', glyph: e.op === 'map' ? 'dma' : 'dm✗' };
    case 'page-alloc':
      return { cat: 'page', glyph: '+pg' };
    case 'page-free':
      return { cat: 'page', glyph: '-pg' };
    case 'page-copy':
      return { cat: 'page', glyph: 'cp' };
    case 'migrate-pair':
      return { cat: 'page', glyph: 'mig' };
    case 'folio-split':
      return { cat: 'page', glyph: 'spl' };
    case 'lock':
      return { cat: 'lock', glyph: e.op === 'acquire' ? 'L' : e.op === 'release' ? 'U' : e.op === 'wait' ? 'L…' : 'L✗' };
    case 'task-spawn':
      return { cat: 'task', glyph: 'new' };
    case 'task-exit':
      return { cat: 'task', glyph: 'ex' };
    case 'switch':
      return { cat: 'task', glyph: 'sw' };
    case 'vma':
    case 'fork':
    case 'mremap':
      return { cat: 'mm', glyph: e.type === 'vma' ? 'vma' : e.type === 'fork' ? 'frk' : 'mrm' };
    case 'warn':
    case 'sleep-in-atomic':
    case 'lock-leak':
      return { cat: 'warn', glyph: '!' };
    default:
      return { cat: 'warn', glyph: '?' };
  }
}

const HEX_KEYS = new Set(['va', 'start', 'end', 'from', 'to', 'len']);
const SKIP_KEYS = new Set(['seq', 'step', 'task', 'type']);

function fieldText(e: TraceEvent, key: string, value: unknown): string {
  if (key === 'owner') return formatOwner(value);
  if (typeof value === 'number') {
    if (HEX_KEYS.has(key)) return hex(value);
    if (e.type === 'pte' && (key === 'old' || key === 'new')) return `${formatPte(value)} (${value})`;
    if ((e.type === 'dev-pte' && (key === 'old' || key === 'new')) || (e.type === 'dev-tlb' && key === 'entry'))
      return `${formatDevPte(value)} (${value})`;
    if (e.type === 'inv-start' && key === 'event') return eventName(value);
    return String(value);
  }
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.map(String).join(', ');
  if (typeof value === 'string') return value === '' ? '(empty)' : value;
  return String(value);
}

/** The payload of an event as (name, text) pairs, numbers shown the way the kernel prints them. */
export function eventFields(e: TraceEvent): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(e)) if (!SKIP_KEYS.has(k)) out.push([k, fieldText(e, k, v)]);
  return out;
}

/** The page a report is about: a virtual page of one mm, and the page frames seen behind it. */
export interface FocusPage {
  readonly mm: number | null;
  /** Page-aligned virtual address. */
  readonly va: number;
  readonly pageSize: number;
  readonly pfns: ReadonlySet<number>;
}

/** True if `e` reads or changes state of the focus page (its va, or a frame mapped there). */
export function touchesFocus(e: TraceEvent, f: FocusPage): boolean {
  const onPage = (va: number): boolean => va - (va % f.pageSize) === f.va;
  const inRange = (start: number, end: number): boolean => start < f.va + f.pageSize && f.va < end;
  switch (e.type) {
    case 'pte':
    case 'cpu-access':
    case 'private-fault':
      return onPage(e.va) && (f.mm === null || e.mm === f.mm);
    case 'dev-pte':
    case 'dev-access':
    case 'dev-fault':
    case 'dev-retry':
      return onPage(e.va);
    case 'dev-tlb':
      return inRange(e.start, e.end);
    case 'inv-start':
      return inRange(e.start, e.end) && (f.mm === null || e.mm === f.mm);
    case 'vma':
      return inRange(e.start, e.end) && (f.mm === null || e.mm === f.mm);
    case 'dma':
    case 'page-alloc':
    case 'page-free':
    case 'folio-split':
      return f.pfns.has(e.pfn);
    case 'page-copy':
    case 'migrate-pair':
      return f.pfns.has(e.src) || f.pfns.has(e.dst);
    default:
      return false;
  }
}
