/**
 * What the notifier callbacks of one invalidation did about one device translation, as the oracle
 * saw it in this run: whether a callback ran and what it returned, whether it called
 * `mmu_interval_set_seq`, which device entries it cleared or write-protected, which TLB flushes it
 * issued and which completed before the callbacks returned. Rules build their explanations from
 * these facts, so an explanation says what happened rather than what usually happens.
 */
import { hex, type TraceEvent } from '@hmmlab/core';
import type { ActiveInvalidation } from '../state.js';

/** The acts of the callbacks of one invalidation on one device address space. */
export interface CallbackActs {
  /** Notifier callbacks that ran, with what they returned, and whether each is an interval notifier's. */
  readonly callbacks: readonly { sub: string; result: string; interval: boolean }[];
  /** Some of them were interval notifier callbacks (which `mmu_interval_set_seq` concerns). */
  readonly interval: boolean;
  readonly setSeq: boolean;
  /** Virtual addresses of the device entries cleared or write-protected. */
  readonly changed: readonly number[];
  /** For each of `changed`, its event's index among the callbacks' events (their order). */
  readonly changedAt: readonly number[];
  /** Of those, the ones left in place with fewer permissions (write-protected), not cleared. */
  readonly downgraded: readonly number[];
  /** TLB flushes issued. */
  readonly issued: readonly { start: number; end: number; fence: number }[];
  /**
   * TLB flushes completed; `leafOnly` ones left the page-walk cache in place; `at`: the event's
   * index among the callbacks' events.
   */
  readonly completed: readonly { start: number; end: number; leafOnly: boolean; at: number }[];
}

/** Collects the acts of `inv`'s callbacks on device `dev`, address space `vm`. */
export function callbackActs(inv: ActiveInvalidation, dev: string, vm: number): CallbackActs {
  const callbacks: { sub: string; result: string; interval: boolean }[] = [];
  const changed: number[] = [];
  const changedAt: number[] = [];
  const downgraded: number[] = [];
  const issued: { start: number; end: number; fence: number }[] = [];
  const completed: { start: number; end: number; leafOnly: boolean; at: number }[] = [];
  let setSeq = false;
  let interval = false;
  inv.callbackEvents.forEach(collect);
  return { callbacks, interval, setSeq, changed, changedAt, downgraded, issued, completed };

  function collect(e: TraceEvent, at: number): void {
    if (e.type === 'inv-callback') {
      if (e.op === 'invalidate') interval = true;
      if (e.phase === 'enter') callbacks.push({ sub: e.sub, result: 'nothing (it did not return)', interval: e.op === 'invalidate' });
      else {
        for (let i = callbacks.length - 1; i >= 0; i--) {
          const c = callbacks[i] as { sub: string; result: string; interval: boolean };
          if (c.sub !== e.sub) continue;
          c.result = String(e.result);
          break;
        }
      }
    } else if (e.type === 'set-seq') {
      setSeq = true;
    } else if (e.type === 'dev-pte' && e.dev === dev && e.vm === vm && e.old !== 0) {
      changed.push(e.va);
      changedAt.push(at);
      if (e.new !== 0) downgraded.push(e.va);
    } else if (e.type === 'dev-tlb' && e.dev === dev && e.vm === vm) {
      if (e.op === 'flush-issue') issued.push({ start: e.start, end: e.end, fence: e.fence });
      else if (e.op === 'flush-complete') completed.push({ start: e.start, end: e.end, leafOnly: e.leafOnly === true, at });
    }
  }
}

/** True if a flush of `r` reaches `va`: it overlaps the `granule`-sized TLB entry holding `va`. */
function covers(r: { start: number; end: number }, va: number, granule: number): boolean {
  const g = va - (va % granule);
  return r.start < g + granule && g < r.end && r.start < r.end;
}

function span(vas: readonly number[], pageSize: number): string {
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  for (const va of vas) {
    lo = Math.min(lo, va);
    hi = Math.max(hi, va + pageSize);
  }
  return `${vas.length} device entr${vas.length === 1 ? 'y' : 'ies'} in [${hex(lo)}, ${hex(hi)})`;
}

/**
 * One clause saying what `inv`'s callbacks did about the translation of `va` on device `dev`,
 * address space `vm`, that was still there afterwards: they did not run, skipped it (returned
 * without clearing or flushing anything), handled a range that does not cover `va`, cleared the
 * entry without a flush, issued a flush that had not completed, or removed it and it came back.
 * A flush reaches `va` when it overlaps the device's TLB entry holding it, `granule` bytes long
 * (the device's page size, the CPU page size by default).
 */
export function whatCallbacksDid(
  inv: ActiveInvalidation,
  dev: string,
  vm: number,
  va: number,
  pageSize: number,
  granule = pageSize,
): string {
  const a = callbackActs(inv, dev, vm);
  if (a.callbacks.length === 0) return `no notifier callback ran for invalidation #${inv.id}`;
  const who =
    a.callbacks.length === 1
      ? `callback "${a.callbacks[0]?.sub}" returned ${a.callbacks[0]?.result}`
      : `callbacks ${a.callbacks.map((c) => `"${c.sub}"`).join(', ')} returned ${a.callbacks.map((c) => c.result).join(', ')}`;
  if (a.changed.length === 0 && a.issued.length === 0) {
    const nothing = 'clearing no device entry and issuing no TLB flush';
    if (!a.interval) return `${who}, ${nothing}`;
    const intervals = a.callbacks.filter((c) => c.interval);
    if (intervals.length === a.callbacks.length) {
      return `${who}${a.setSeq ? ' after mmu_interval_set_seq only' : ' without mmu_interval_set_seq'}, ${nothing}`;
    }
    const names = intervals.map((c) => `"${c.sub}"`).join(', ');
    return `${who}, ${nothing} (of them, the interval notifier callback${intervals.length === 1 ? '' : 's'} ${names} ${a.setSeq ? 'called mmu_interval_set_seq' : 'did not call mmu_interval_set_seq'})`;
  }
  const cleared = a.changed.includes(va - (va % pageSize));
  const flush = a.issued.find((r) => covers(r, va, granule));
  if (!cleared && flush === undefined) {
    const did: string[] = [];
    if (a.changed.length > 0) did.push(`${a.downgraded.length === 0 ? 'cleared' : 'changed'} ${span(a.changed, pageSize)}`);
    if (a.issued.length > 0) did.push(`flushed ${a.issued.map((r) => `[${hex(r.start)}, ${hex(r.end)})`).join(', ')}`);
    return `${who} having ${did.join(' and ')}, none of which covers ${hex(va)}, though the invalidated range [${hex(inv.start)}, ${hex(inv.end)}) does: the range it handled was too small`;
  }
  if (a.downgraded.includes(va - (va % pageSize))) {
    return `${who} having write-protected the device entry of ${hex(va)} rather than clearing it${flush === undefined ? '' : ', and flushed it'}`;
  }
  if (flush === undefined) return `${who} having cleared the device entry of ${hex(va)} but issued no TLB flush covering it`;
  if (!a.completed.some((r) => covers(r, va, granule))) {
    return `${who} having cleared the device entry of ${hex(va)} and issued a TLB flush covering it (fence ${flush.fence}) that had not completed: the flush was not waited for`;
  }
  if (!cleared) return `${who} having flushed the TLB for ${hex(va)} but left its page-table entry in place`;
  const clearedAt = a.changedAt[a.changed.lastIndexOf(va - (va % pageSize))] ?? 0;
  if (!a.completed.some((r) => r.at > clearedAt && covers(r, va, granule))) {
    return `${who} having flushed the TLB for ${hex(va)} and cleared its device entry only after the flush completed: the device may cache the entry again between the flush and the clear, so the flush must come after the clear`;
  }
  return `${who} having cleared and flushed ${hex(va)}; the translation was installed again afterwards`;
}
