import type { TraceEvent } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import type { ActiveInvalidation } from '../state.js';
import { whatCallbacksDid } from './callback-facts.js';

const PS = 4096;
const VA = 0x11000;

type Ev = Record<string, unknown>;
const enter: Ev = { type: 'inv-callback', inv: 1, sub: 'm', op: 'invalidate', phase: 'enter', result: null, leaked: [] };
const ret: Ev = { ...enter, phase: 'return', result: true };
const setSeq: Ev = { type: 'set-seq', sub: 'm', id: 1, curSeq: 3 };
const clear = (va: number, dev = 'gpu0'): Ev => ({ type: 'dev-pte', dev, vm: 1, va, old: 77, new: 0, why: 'unmap' });
const issue = (start: number, end: number, fence: number): Ev => ({
  type: 'dev-tlb',
  dev: 'gpu0',
  vm: 1,
  op: 'flush-issue',
  start,
  end,
  fence,
  entry: 0,
});
const complete = (start: number, end: number): Ev => ({
  type: 'dev-tlb',
  dev: 'gpu0',
  vm: 1,
  op: 'flush-complete',
  start,
  end,
  fence: 0,
  entry: 0,
});

function inv(events: Ev[]): ActiveInvalidation {
  return {
    id: 1,
    mm: 1,
    event: 1,
    start: 0x10000,
    end: 0x12000,
    owner: undefined,
    blockable: true,
    started: true,
    callbackEvents: events.map((e, i) => ({ seq: i, step: i, task: 1, ...e }) as TraceEvent),
    before: new Map(),
    needed: new Set(),
    duringFault: false,
    task: 1,
    outcomes: new Map(),
    pteCells: new Map(),
  };
}

describe('whatCallbacksDid', () => {
  it.each<[string, Ev[], string]>([
    ['no callback', [], 'no notifier callback ran for invalidation #1'],
    [
      'a skip after set_seq',
      [enter, setSeq, ret],
      'callback "m" returned true after mmu_interval_set_seq only, clearing no device entry and issuing no TLB flush',
    ],
    [
      'a skip before set_seq',
      [enter, ret],
      'callback "m" returned true without mmu_interval_set_seq, clearing no device entry and issuing no TLB flush',
    ],
    [
      'too small a range',
      [enter, setSeq, clear(0x10000), issue(0x10000, 0x11000, 0), complete(0x10000, 0x11000), ret],
      'callback "m" returned true having cleared 1 device entry in [0x10000, 0x11000) and flushed [0x10000, 0x11000), none of which covers 0x11000, though the invalidated range [0x10000, 0x12000) does: the range it handled was too small',
    ],
    [
      'a clear without a flush',
      [enter, setSeq, clear(VA), ret],
      'callback "m" returned true having cleared the device entry of 0x11000 but issued no TLB flush covering it',
    ],
    [
      'a flush not waited for',
      [enter, setSeq, clear(VA), issue(0x10000, 0x12000, 4), ret],
      'callback "m" returned true having cleared the device entry of 0x11000 and issued a TLB flush covering it (fence 4) that had not completed: the flush was not waited for',
    ],
    [
      'a flush without a clear',
      [enter, setSeq, issue(0x10000, 0x12000, 0), complete(0x10000, 0x12000), ret],
      'callback "m" returned true having flushed the TLB for 0x11000 but left its page-table entry in place',
    ],
    [
      'a translation installed again',
      [enter, setSeq, clear(VA), issue(0x10000, 0x12000, 0), complete(0x10000, 0x12000), ret],
      'callback "m" returned true having cleared and flushed 0x11000; the translation was installed again afterwards',
    ],
    [
      'a flush that completed before the clear',
      [enter, setSeq, issue(0x10000, 0x12000, 0), complete(0x10000, 0x12000), clear(VA), ret],
      'callback "m" returned true having flushed the TLB for 0x11000 and cleared its device entry only after the flush completed: the device may cache the entry again between the flush and the clear',
    ],
    [
      'a flush issued before the clear and completed after it',
      [enter, setSeq, issue(0x10000, 0x12000, 3), clear(VA), complete(0x10000, 0x12000), ret],
      'callback "m" returned true having cleared and flushed 0x11000; the translation was installed again afterwards',
    ],
    [
      'a second flush after a clear that came between two',
      [enter, setSeq, issue(0x10000, 0x12000, 0), complete(0x10000, 0x12000), clear(VA), issue(VA, 0x12000, 1), complete(VA, 0x12000), ret],
      'callback "m" returned true having cleared and flushed 0x11000; the translation was installed again afterwards',
    ],
    [
      'a write-protect where a clear was needed',
      [enter, setSeq, { ...clear(VA), new: 76, why: 'wrprotect' }, issue(0x10000, 0x12000, 0), complete(0x10000, 0x12000), ret],
      'callback "m" returned true having write-protected the device entry of 0x11000 rather than clearing it, and flushed it',
    ],
    ['another device cleared', [enter, setSeq, clear(VA, 'gpu1'), ret], 'clearing no device entry and issuing no TLB flush'],
    [
      'a classic start that does nothing',
      [
        { ...enter, op: 'invalidate-range-start' },
        { ...enter, op: 'invalidate-range-start', phase: 'return', result: 0 },
      ],
      'callback "m" returned 0, clearing no device entry and issuing no TLB flush',
    ],
  ])('should describe %s', (_name, events, says) => {
    expect(whatCallbacksDid(inv(events), 'gpu0', 1, VA, PS)).toContain(says);
  });

  it('should count a flush of another page of the granule as covering the address on a device with 64 KiB TLB entries', () => {
    // The flush [0x10000, 0x11000) evicts the whole 64 KiB entry holding 0x11000, but not a 4 KiB one.
    const events = [enter, setSeq, clear(VA), issue(0x10000, 0x11000, 0), complete(0x10000, 0x11000), ret];
    expect(whatCallbacksDid(inv(events), 'gpu0', 1, VA, PS, 64 * 1024)).toContain('having cleared and flushed 0x11000');
    expect(whatCallbacksDid(inv(events), 'gpu0', 1, VA, PS)).toContain(
      'having cleared the device entry of 0x11000 but issued no TLB flush covering it',
    );
  });

  it('should say which of several callbacks are interval ones when only those can call mmu_interval_set_seq', () => {
    const classic: Ev = { ...enter, sub: 'c', op: 'invalidate-range-start' };
    const events = [enter, setSeq, ret, classic, { ...classic, phase: 'return', result: 0 }];
    expect(whatCallbacksDid(inv(events), 'gpu0', 1, VA, PS)).toBe(
      'callbacks "m", "c" returned true, 0, clearing no device entry and issuing no TLB flush (of them, the interval notifier callback "m" called mmu_interval_set_seq)',
    );
  });

  it('should name each callback when several ran', () => {
    const other: Ev = { ...enter, sub: 'n' };
    const text = whatCallbacksDid(inv([enter, ret, other, { ...other, phase: 'return', result: false }]), 'gpu0', 1, VA, PS);
    expect(text).toContain('callbacks "m", "n" returned true, false');
  });
});
