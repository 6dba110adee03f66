/**
 * The state of one virtual page over time, rebuilt from the trace alone: the CPU entry, and for
 * each device mirroring that mm its TLB entry, its page-table entry and its DMA mappings of the
 * frames behind the page. The TLB follows the device model: a fill caches the page-table entry,
 * a completed flush drops it, and so does a fault on the page (the hardware drops an entry it
 * could not use).
 */
import {
  formatPte,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_SWAP,
  pteAccessible,
  pteKindOf,
  ptePfn,
  pteWrite,
  type TraceEvent,
} from '@hmmlab/core';
import { DEV_PTE_ATOMIC, DEV_PTE_WRITE, devPteFlags, devPtePfn, formatDevPte } from '@hmmlab/harness';
import type { FocusPage } from './event-info.js';

/** An event with the column the timeline draws it in. */
export interface PlacedEvent {
  readonly e: TraceEvent;
  readonly col: number;
}

/** A stretch of columns `[c0, c1)` in one state. */
export interface StateSegment {
  readonly c0: number;
  readonly c1: number;
  readonly text: string;
  /** CSS class: the kind of entry, plus ` stale` when the CPU entry no longer allows it. */
  readonly cls: string;
}

/** One row of the page's state. */
export interface StateRow {
  readonly label: string;
  readonly segs: readonly StateSegment[];
}

/** Which mm each device VM mirrors, when the caller knows it. */
export interface TimelineDevice {
  /** The device's name. */
  readonly name: string;
  /** Its address spaces: each `id` with the `mm` (id) it mirrors. */
  readonly vms: readonly { readonly id: number; readonly mm: number }[];
  /** The granule of its TLB (`Device.pageSize`): a flush evicts every granule it overlaps. @defaultValue the kernel's page size */
  readonly pageSize?: number;
}

type Change = readonly [col: number, value: number];

function valueAt(changes: readonly Change[], col: number): number {
  let lo = 0;
  let hi = changes.length - 1;
  let v = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = changes[mid] as Change;
    if (c[0] <= col) {
      v = c[1];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return v;
}

/** True if the CPU entry `pte` lets a device use `entry` (the oracle's rule, without page owners). */
export function cpuEntryAllows(pte: number, entry: number): boolean {
  if (ptePfn(pte) !== devPtePfn(entry)) return false;
  const f = devPteFlags(entry);
  const write = (f & DEV_PTE_WRITE) !== 0;
  switch (pteKindOf(pte)) {
    case PTE_PRESENT:
      return pteAccessible(pte) && (f & DEV_PTE_ATOMIC) === 0 && (!write || pteWrite(pte));
    case PTE_DEVICE_PRIVATE:
      return !write || pteWrite(pte);
    case PTE_DEVICE_EXCLUSIVE:
      return true;
    default:
      return false;
  }
}

function cpuClass(pte: number): string {
  switch (pteKindOf(pte)) {
    case PTE_PRESENT:
      return pteAccessible(pte) ? (pteWrite(pte) ? 'present-w' : 'present-r') : 'protnone';
    case PTE_SWAP:
      return 'swap';
    case PTE_MIGRATION:
      return 'migration';
    case PTE_DEVICE_PRIVATE:
      return 'devpriv';
    case PTE_DEVICE_EXCLUSIVE:
      return 'devexcl';
    default:
      return 'none';
  }
}

function segments(changes: readonly Change[], cols: number, show: (v: number, c0: number, c1: number) => StateSegment[]): StateSegment[] {
  const out: StateSegment[] = [];
  for (let i = 0; i < changes.length; i++) {
    const [c0, v] = changes[i] as Change;
    const c1 = i + 1 < changes.length ? (changes[i + 1] as Change)[0] : cols;
    if (v !== 0 && c1 > c0) out.push(...show(v, c0, c1));
  }
  return out;
}

/** Splits `[c0, c1)` at the columns where the CPU entry or the queues change, and marks stale pieces. */
function deviceSegments(entry: number, c0: number, c1: number, cpu: readonly Change[], quiesced: readonly Change[]): StateSegment[] {
  const cuts = new Set<number>([c0, c1]);
  for (const [c] of cpu) if (c > c0 && c < c1) cuts.add(c);
  for (const [c] of quiesced) if (c > c0 && c < c1) cuts.add(c);
  const at = [...cuts].sort((a, b) => a - b);
  const base = (devPteFlags(entry) & DEV_PTE_WRITE) !== 0 ? 'dev-w' : 'dev-r';
  const out: StateSegment[] = [];
  for (let i = 0; i + 1 < at.length; i++) {
    const a = at[i] as number;
    const b = at[i + 1] as number;
    const stale = valueAt(quiesced, a) === 0 && !cpuEntryAllows(valueAt(cpu, a), entry);
    const cls = stale ? `${base} stale` : base;
    const last = out[out.length - 1];
    if (last !== undefined && last.cls === cls && last.c1 === a) out[out.length - 1] = { ...last, c1: b };
    else out.push({ c0: a, c1: b, text: formatDevPte(entry), cls });
  }
  return out;
}

/** Rebuilds the rows of the focus page's state over `cols` columns. */
export function vaStateRows(
  placed: readonly PlacedEvent[],
  focus: FocusPage,
  cols: number,
  devices?: readonly TimelineDevice[],
): StateRow[] {
  const ps = focus.pageSize;
  const onPage = (va: number): boolean => va - (va % ps) === focus.va;
  const mirrors = (dev: string, vm: number): boolean => {
    const d = devices?.find((x) => x.name === dev);
    const info = d?.vms.find((x) => x.id === vm);
    return info === undefined || focus.mm === null || info.mm === focus.mm;
  };
  const cpu: Change[] = [];
  const vmKeys: string[] = [];
  const tlb = new Map<string, Change[]>();
  const pt = new Map<string, Change[]>();
  const queue = new Map<string, Change[]>();
  const dmaState = new Map<string, Map<number, { n: number; write: boolean }>>();
  const dma = new Map<string, [number, string][]>();
  const vmOf = (dev: string, vm: number): string => {
    const k = `${dev}\u0000${vm}`;
    if (!tlb.has(k)) {
      vmKeys.push(k);
      tlb.set(k, []);
      pt.set(k, []);
    }
    return k;
  };
  const devOf = (dev: string): void => {
    if (!queue.has(dev)) queue.set(dev, []);
  };
  for (const { e, col } of placed) {
    switch (e.type) {
      case 'pte':
        if (onPage(e.va) && (focus.mm === null || e.mm === focus.mm)) cpu.push([col, e.new]);
        break;
      case 'dev-pte': {
        devOf(e.dev);
        if (!mirrors(e.dev, e.vm)) break;
        const k = vmOf(e.dev, e.vm);
        if (onPage(e.va)) (pt.get(k) as Change[]).push([col, e.new]);
        break;
      }
      case 'dev-tlb': {
        devOf(e.dev);
        if (!mirrors(e.dev, e.vm)) break;
        const k = vmOf(e.dev, e.vm);
        const g = e.op === 'flush-complete' ? (devices?.find((x) => x.name === e.dev)?.pageSize ?? ps) : ps;
        if (!(e.start - (e.start % g) < focus.va + ps && focus.va < Math.ceil(e.end / g) * g)) break;
        if (e.op === 'fill') (tlb.get(k) as Change[]).push([col, e.entry]);
        else if (e.op === 'flush-complete') (tlb.get(k) as Change[]).push([col, 0]);
        break;
      }
      case 'dev-fault':
      case 'dev-access': {
        devOf(e.dev);
        if (!mirrors(e.dev, e.vm)) break;
        const k = vmOf(e.dev, e.vm);
        if (e.type === 'dev-fault' && onPage(e.va) && (e.phase === 'begin' || e.fatal)) (tlb.get(k) as Change[]).push([col, 0]);
        break;
      }
      case 'dev-queue':
        devOf(e.dev);
        (queue.get(e.dev) as Change[]).push([col, e.op === 'quiesce' ? 1 : 0]);
        break;
      case 'dma': {
        devOf(e.dev);
        if (!focus.pfns.has(e.pfn)) break;
        let m = dmaState.get(e.dev);
        if (m === undefined) dmaState.set(e.dev, (m = new Map()));
        const cur = m.get(e.pfn) ?? { n: 0, write: false };
        const next = e.op === 'map' ? { n: cur.n + 1, write: cur.write || e.write } : { n: Math.max(0, cur.n - 1), write: cur.write };
        if (next.n === 0) m.delete(e.pfn);
        else m.set(e.pfn, next);
        const text = [...m.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([pfn, s]) => `pfn ${pfn} ${s.write ? 'rw' : 'r'}${s.n > 1 ? ` ×${s.n}` : ''}`)
          .join(', ');
        let list = dma.get(e.dev);
        if (list === undefined) dma.set(e.dev, (list = []));
        list.push([col, text]);
        break;
      }
      default:
        break;
    }
  }
  const rows: StateRow[] = [
    { label: 'CPU PTE', segs: segments(cpu, cols, (v, c0, c1) => [{ c0, c1, text: formatPte(v), cls: cpuClass(v) }]) },
  ];
  const multiVm = new Set(vmKeys.map((k) => k.split('\u0000')[0])).size < vmKeys.length;
  for (const dev of [...queue.keys()].sort()) {
    const q = queue.get(dev) as Change[];
    for (const k of vmKeys.filter((x) => x.split('\u0000')[0] === dev).sort()) {
      const name = multiVm ? `${dev} vm ${k.split('\u0000')[1]}` : dev;
      rows.push({ label: `${name} TLB`, segs: segments(tlb.get(k) as Change[], cols, (v, c0, c1) => deviceSegments(v, c0, c1, cpu, q)) });
      rows.push({ label: `${name} PTE`, segs: segments(pt.get(k) as Change[], cols, (v, c0, c1) => deviceSegments(v, c0, c1, cpu, q)) });
    }
    const d = dma.get(dev) ?? [];
    const segs: StateSegment[] = [];
    d.forEach(([c0, text], i) => {
      const c1 = i + 1 < d.length ? (d[i + 1] as [number, string])[0] : cols;
      if (text !== '' && c1 > c0) segs.push({ c0, c1, text, cls: 'dma' });
    });
    rows.push({ label: `${dev} DMA`, segs });
    if (q.length > 0)
      rows.push({ label: `${dev} queues`, segs: segments(q, cols, (_v, c0, c1) => [{ c0, c1, text: 'quiesced', cls: 'quiesced' }]) });
  }
  return rows;
}
