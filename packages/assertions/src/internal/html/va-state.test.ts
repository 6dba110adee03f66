import { mkPte, PTE_MIGRATION, PTE_PRESENT, PTE_WRITE, type TraceEvent, type TraceEventInput } from '@hmmlab/core';
import { mkDevPte } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import type { FocusPage } from './event-info.js';
import { cpuEntryAllows, type PlacedEvent, vaStateRows } from './va-state.js';

const VA = 0x10000;
const focus: FocusPage = { mm: 1, va: VA, pageSize: 4096, pfns: new Set([7]) };
const rw = mkPte(PTE_PRESENT, 7, PTE_WRITE);
const ro = mkPte(PTE_PRESENT, 7);
const dev = mkDevPte(7, true);

/** Places events one per column, in order. */
function place(events: TraceEventInput[]): PlacedEvent[] {
  return events.map((e, col) => ({ e: { ...e, seq: col, step: col, task: 1 } as TraceEvent, col }));
}

const cpuFault: TraceEventInput = { type: 'pte', mm: 1, va: VA, old: 0, new: rw, inv: -1, why: 'fault' };
const fill: TraceEventInput = { type: 'dev-tlb', dev: 'gpu0', vm: 1, op: 'fill', start: VA, end: VA + 4096, fence: 0, entry: dev };
const map: TraceEventInput = { type: 'dev-pte', dev: 'gpu0', vm: 1, va: VA, old: 0, new: dev, why: 'map' };
const unmap: TraceEventInput = { type: 'dev-pte', dev: 'gpu0', vm: 1, va: VA, old: dev, new: 0, why: 'unmap' };
const wrprotect: TraceEventInput = { type: 'pte', mm: 1, va: VA, old: rw, new: ro, inv: 1, why: 'mprotect' };
const flushed: TraceEventInput = {
  type: 'dev-tlb',
  dev: 'gpu0',
  vm: 1,
  op: 'flush-complete',
  start: 0,
  end: 0x100000,
  fence: 0,
  entry: 0,
};

describe('vaStateRows', () => {
  it('should keep the TLB entry after its PTE is cleared, and mark it stale once the CPU entry no longer allows it', () => {
    const placed = place([cpuFault, map, fill, unmap, wrprotect]);
    const rows = vaStateRows(placed, focus, placed.length);
    expect(rows.map((r) => r.label)).toEqual(['CPU PTE', 'gpu0 TLB', 'gpu0 PTE', 'gpu0 DMA']);
    const tlb = rows[1]?.segs ?? [];
    expect(tlb).toEqual([
      { c0: 2, c1: 4, text: 'pfn 7 rw', cls: 'dev-w' },
      { c0: 4, c1: 5, text: 'pfn 7 rw', cls: 'dev-w stale' },
    ]);
    expect(rows[2]?.segs).toEqual([{ c0: 1, c1: 3, text: 'pfn 7 rw', cls: 'dev-w' }]);
  });

  it.each<[string, TraceEventInput]>([
    ['a completed flush over the page', flushed],
    ['a fault on the page', { type: 'dev-fault', dev: 'gpu0', vm: 1, va: VA + 8, kind: 'write', phase: 'begin', result: 0, fatal: false }],
  ])('should drop the TLB entry at %s', (_what, drop) => {
    const placed = place([cpuFault, map, fill, drop]);
    const tlb = vaStateRows(placed, focus, 10)[1]?.segs;
    expect(tlb).toEqual([{ c0: 2, c1: 3, text: 'pfn 7 rw', cls: 'dev-w' }]);
  });

  it('should drop the TLB entry at a flush of another page of its granule only on a device whose TLB caches 64 KiB granules', () => {
    const nextPage: TraceEventInput = { ...flushed, start: VA + 4096, end: VA + 8192 };
    const placed = place([cpuFault, map, fill, nextPage]);
    const tlbOf = (pageSize: number) =>
      vaStateRows(placed, focus, 10, [{ name: 'gpu0', pageSize, vms: [{ id: 1, mm: 1 }] }]).find((r) => r.label === 'gpu0 TLB')?.segs;
    expect(tlbOf(64 * 1024)).toEqual([{ c0: 2, c1: 3, text: 'pfn 7 rw', cls: 'dev-w' }]);
    expect(tlbOf(4096)).toEqual([{ c0: 2, c1: 10, text: 'pfn 7 rw', cls: 'dev-w' }]);
  });

  it('should not mark a translation stale while the device queues are quiesced', () => {
    const placed = place([cpuFault, map, { type: 'dev-queue', dev: 'gpu0', op: 'quiesce' }, wrprotect]);
    const rows = vaStateRows(placed, focus, 4);
    expect(rows.find((r) => r.label === 'gpu0 PTE')?.segs.map((s) => s.cls)).toEqual(['dev-w']);
    expect(rows.find((r) => r.label === 'gpu0 queues')?.segs).toEqual([{ c0: 2, c1: 4, text: 'quiesced', cls: 'quiesced' }]);
  });

  it('should leave out VMs that mirror another mm', () => {
    const rows = vaStateRows(place([map]), focus, 1, [{ name: 'gpu0', vms: [{ id: 1, mm: 2 }] }]);
    expect(rows.map((r) => r.label)).toEqual(['CPU PTE', 'gpu0 DMA']);
  });

  it('should show DMA mappings of the frames behind the page, and only those', () => {
    const placed = place([
      { type: 'dma', dev: 'gpu0', pfn: 7, op: 'map', write: true },
      { type: 'dma', dev: 'gpu0', pfn: 9, op: 'map', write: false },
      { type: 'dma', dev: 'gpu0', pfn: 7, op: 'unmap', write: false },
    ]);
    const dma = vaStateRows(placed, focus, 5).find((r) => r.label === 'gpu0 DMA');
    expect(dma?.segs).toEqual([{ c0: 0, c1: 2, text: 'pfn 7 rw', cls: 'dma' }]);
  });
});

describe('cpuEntryAllows', () => {
  it.each([
    ['a writable entry of the same page', rw, dev, true],
    ['a read-only entry, for a writable translation', ro, dev, false],
    ['a read-only entry, for a read-only translation', ro, mkDevPte(7, false), true],
    ['an entry of another page', mkPte(PTE_PRESENT, 8, PTE_WRITE), dev, false],
    ['a migration entry', mkPte(PTE_MIGRATION, 7, PTE_WRITE), dev, false],
  ])('should judge %s', (_what, pte, entry, allowed) => {
    expect(cpuEntryAllows(pte, entry)).toBe(allowed);
  });
});
