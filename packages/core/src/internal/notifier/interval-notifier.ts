/**
 * `struct mmu_interval_notifier` and its API (mm/mmu_notifier.c, include/linux/mmu_notifier.h):
 * insert, remove, the collision-retry read side (`read_begin` / `read_retry`) and the
 * invalidation of the interval tree.
 */
import { EAGAIN, EINVAL, EOVERFLOW, HmmlabError, hex } from '../errors.js';
import { ULONG_MAX } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import { yieldPoint } from '../sched/scheduler.js';
import { type InvokeFacts, invokeDriver } from './invoke.js';
import { ensureSubscriptions, mmTakeAllLocks, registerChecksUsers } from './mmu-notifier.js';
import { MMU_NOTIFY_RELEASE, type MmuNotifierRange, type MutableRange, mmuNotifierRangeBlockable } from './range.js';
import type { MmuNotifierSubscriptions } from './subscriptions.js';

/** Handle passed back by a two-pass `invalidateStart` to get its `invalidateFinish` called. */
export interface MmuIntervalNotifierFinish {
  /** The notifier whose `invalidateFinish` to call (set by the core). */
  notifier?: MmuIntervalNotifier;
}

/** `struct mmu_interval_notifier_ops`. */
export interface MmuIntervalNotifierOps {
  /**
   * Upon return the caller must stop using any device translation within the range. May sleep
   * (return a promise) unless the range is not blockable. Return false only if sleeping was
   * required but `mmuNotifierRangeBlockable(range)` is false.
   */
  invalidate?(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean | Promise<boolean>;
  /**
   * Two-pass variant (newest kernels): first pass. Return a finish handle to get
   * `invalidateFinish` called after every first pass of this invalidation.
   * @returns `ok`: as `invalidate` returns; `finish`: the handle, or null for no second pass
   */
  invalidateStart?(
    mni: MmuIntervalNotifier,
    range: MmuNotifierRange,
    curSeq: number,
  ): { ok: boolean; finish: MmuIntervalNotifierFinish | null } | Promise<{ ok: boolean; finish: MmuIntervalNotifierFinish | null }>;
  /** Two-pass variant: second pass. */
  invalidateFinish?(finish: MmuIntervalNotifierFinish): void | Promise<void>;
}

/**
 * An interval subscription. Drivers embed it the way C code embeds the struct: subclass it to
 * carry driver state (`container_of`), or keep a map from notifier to state.
 */
export class MmuIntervalNotifier {
  /** First address covered. */
  start = 0;
  /** Last address covered (inclusive), as the interval tree stores it. */
  last = 0;
  /** @internal */
  order = 0;
  /** `interval_sub->invalidate_seq`. */
  invalidateSeq = 0;
  /** The callbacks (`interval_sub->ops`), set by insertion. */
  ops: MmuIntervalNotifierOps | null = null;
  /** The address space, set by insertion. */
  mm: Mm | null = null;
  /** @internal In the interval tree (`!RB_EMPTY_NODE`). */
  inTree = false;
  /** @internal On the deferred list. */
  deferred = false;
  /** Name used in traces and reports. */
  name: string;

  constructor(name = 'interval notifier') {
    this.name = name;
  }

  /** Inserted and not yet removed. */
  get inserted(): boolean {
    return this.mm !== null;
  }
}

function checkOps(api: string, ops: MmuIntervalNotifierOps, name: string): void {
  const known = new Set(['invalidate', 'invalidateStart', 'invalidateFinish']);
  for (const k of Object.keys(ops)) {
    if (!known.has(k)) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${api}: ops of "${name}" has an unknown member "${k}"; expected invalidate, or invalidateStart with invalidateFinish`,
      );
    }
  }
  if (typeof ops.invalidate !== 'function' && typeof ops.invalidateStart !== 'function') {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${api}: ops of "${name}" has neither invalidate nor invalidateStart`);
  }
  if (typeof ops.invalidateStart === 'function' && typeof ops.invalidateFinish !== 'function') {
    // WARN_ON_ONCE(ops->invalidate_start && !ops->invalidate_finish) in the kernel.
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${api}: ops of "${name}" has invalidateStart without invalidateFinish`);
  }
}

function insertChecks(api: string, sub: MmuIntervalNotifier, mm: Mm, start: number, length: number, ops: MmuIntervalNotifierOps): void {
  if (sub.inserted) {
    throw new HmmlabError(
      'ERR_DOUBLE_INSERT',
      `${api}: "${sub.name}" is already inserted at [${hex(sub.start)}, ${hex(sub.last)}]; remove it first or use a new notifier`,
    );
  }
  if (!Number.isInteger(start) || start < 0 || !Number.isInteger(length) || length < 0) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${api}: start ${String(start)} and length ${String(length)} must be non-negative integers`);
  }
  checkOps(api, ops, sub.name);
  if (mm.dead) {
    throw new HmmlabError('ERR_STATE', `${api}: mm ${mm.id} has exited; insert notifiers only on a live mm`);
  }
}

/** `__mmu_interval_notifier_insert`. */
function doInsert(
  sub: MmuIntervalNotifier,
  mm: Mm,
  subs: MmuNotifierSubscriptions,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
): number {
  if (length === 0 || start + length - 1 > ULONG_MAX) return -EOVERFLOW;
  if (mm.users <= 0) {
    mm.kernel.warn('insert-dead-mm', `mmu_interval_notifier_insert on mm ${mm.id} with mm_users ${mm.users}`);
    return -EINVAL;
  }
  sub.mm = mm;
  sub.ops = ops;
  sub.start = start;
  sub.last = start + length - 1;
  sub.order = mm.kernel.nextId('interval-notifier');
  mm.count++; // mmgrab
  if (subs.activeInvalidateRanges !== 0) {
    if (subs.isInvalidating()) {
      sub.deferred = true;
      subs.deferredList.unshift(sub);
    } else {
      if (subs.invalidateSeq % 2 === 0) subs.invalidateSeq++;
      subs.itree.insert(sub);
      sub.inTree = true;
    }
    sub.invalidateSeq = subs.invalidateSeq;
  } else {
    sub.invalidateSeq = subs.invalidateSeq - 1;
    subs.itree.insert(sub);
    sub.inTree = true;
  }
  return 0;
}

/**
 * `mmu_interval_notifier_insert`: subscribes `sub` to invalidations of `[start, start+length)`.
 * Takes the mmap lock for writing the first time an mm gets interval notifiers. Returns 0,
 * `-EOVERFLOW` (empty or wrapping range) or `-EINVAL` (dead mm). The notifier may not be in the
 * tree yet on return: establish device mappings with `mmuIntervalReadBegin`/`ReadRetry`.
 */
export async function mmuIntervalNotifierInsert(
  sub: MmuIntervalNotifier,
  mm: Mm,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
): Promise<number> {
  insertChecks('mmu_interval_notifier_insert', sub, mm, start, length, ops);
  let subs = mm.notifierSubscriptions;
  if (subs === null || !subs.hasItree) {
    registerChecksUsers('mmu_interval_notifier_insert', mm);
    // mmu_notifier_register(NULL, mm): registration under mm_take_all_locks.
    await mm.mmapLock.downWrite();
    await mmTakeAllLocks(mm);
    subs = ensureSubscriptions(mm);
    subs.hasItree = true;
    mm.mmapLock.upWrite();
  }
  return doInsert(sub, mm, subs, start, length, ops);
}

/** `mmu_interval_notifier_insert_locked`: the caller holds the mmap lock for writing. */
export function mmuIntervalNotifierInsertLocked(
  sub: MmuIntervalNotifier,
  mm: Mm,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
): number {
  insertChecks('mmu_interval_notifier_insert_locked', sub, mm, start, length, ops);
  if (!mm.mmapLock.isWriteHeldByCurrent()) {
    throw new HmmlabError(
      'ERR_NOT_LOCKED',
      'mmu_interval_notifier_insert_locked: the mmap lock is not held for writing (mmap_assert_write_locked); take mm.mmapLock.downWrite() first or call mmuIntervalNotifierInsert',
    );
  }
  if (mm.notifierSubscriptions?.hasItree !== true) registerChecksUsers('mmu_interval_notifier_insert_locked', mm);
  const subs = ensureSubscriptions(mm);
  subs.hasItree = true;
  return doInsert(sub, mm, subs, start, length, ops);
}

/**
 * `mmu_interval_notifier_remove`: may sleep until a running invalidation ends. Must not be called
 * from a notifier callback. Once it returns, the callbacks are not running and will not be called.
 */
export async function mmuIntervalNotifierRemove(sub: MmuIntervalNotifier): Promise<void> {
  const mm = sub.mm;
  if (mm === null) {
    throw new HmmlabError(
      'ERR_NOT_INSERTED',
      `mmu_interval_notifier_remove: "${sub.name}" is not inserted; remove only a notifier that mmuIntervalNotifierInsert returned 0 for`,
    );
  }
  const k = mm.kernel;
  const ctx = k.sched.current.contexts;
  if (ctx.some((c) => c.startsWith('interval notifier') || c.startsWith('mmu notifier'))) {
    throw new HmmlabError(
      'ERR_IN_CALLBACK',
      `mmu_interval_notifier_remove: called from a notifier callback (${ctx.join(' > ')}); the kernel forbids it (it would wait for itself). Defer the removal to a work item`,
    );
  }
  k.sched.mightSleep('mmu_interval_notifier_remove');
  const subs = mm.notifierSubscriptions as MmuNotifierSubscriptions;
  let seq = 0;
  if (subs.isInvalidating()) {
    if (!sub.inTree) {
      const i = subs.deferredList.indexOf(sub);
      if (i >= 0) subs.deferredList.splice(i, 1);
      sub.deferred = false;
    } else {
      sub.deferred = true;
      subs.deferredList.unshift(sub);
      seq = subs.invalidateSeq;
    }
  } else {
    subs.itree.remove(sub);
    sub.inTree = false;
  }
  if (seq !== 0) await subs.wq.waitEvent(() => subs.invalidateSeq !== seq);
  sub.mm = null;
  mm.count--; // mmdrop
}

/**
 * `mmu_interval_read_begin`: starts a read-side critical section. Sleeps only while this
 * notifier's seq equals the (odd) global seq, i.e. an invalidation already ran its `set_seq` on
 * it and has not ended. Returns the notifier's own seq, for {@link mmuIntervalReadRetry}.
 */
export async function mmuIntervalReadBegin(sub: MmuIntervalNotifier): Promise<number> {
  const mm = sub.mm;
  if (mm === null) {
    throw new HmmlabError('ERR_NOT_INSERTED', `mmu_interval_read_begin: "${sub.name}" is not inserted`);
  }
  await yieldPoint();
  const subs = mm.notifierSubscriptions as MmuNotifierSubscriptions;
  subs.lockedSection();
  const seq = sub.invalidateSeq;
  if (seq === subs.invalidateSeq) {
    mm.kernel.sched.mightSleep('mmu_interval_read_begin');
    await subs.wq.waitEvent(() => subs.invalidateSeq !== seq);
  }
  return seq;
}

/**
 * `mmu_interval_read_retry`: true if an invalidation ran `set_seq` since `seq` was read. Call under
 * the driver lock that the callback holds around `mmuIntervalSetSeq`: in the kernel it is a plain
 * load of `interval_sub->invalidate_seq` (include/linux/mmu_notifier.h), and only that lock orders
 * it after the store, so it is a tracked read for the `data-race` rule.
 */
export function mmuIntervalReadRetry(sub: MmuIntervalNotifier, seq: number): boolean {
  seqAccess(sub, 'read_retry', seq);
  return sub.invalidateSeq !== seq;
}

/**
 * `mmu_interval_check_retry`: the lockless, advisory form: true is definitive, false is not. A
 * `READ_ONCE` paired with `set_seq`'s `WRITE_ONCE` (include/linux/mmu_notifier.h): an atomic read,
 * which orders nothing the caller does after it.
 */
export function mmuIntervalCheckRetry(sub: MmuIntervalNotifier, seq: number): boolean {
  seqAccess(sub, 'check_retry', seq);
  return sub.invalidateSeq !== seq;
}

/** Records a driver's access to `sub`'s sequence (a read only while tasks run: set-up and inspection race with nothing). */
function seqAccess(sub: MmuIntervalNotifier, op: 'set_seq' | 'read_retry' | 'check_retry', seq: number): void {
  const k = sub.mm?.kernel;
  if (k === undefined || !k.trace.on) return;
  if (op === 'set_seq') k.trace.emit({ type: 'set-seq', sub: sub.name, id: sub.order, curSeq: seq });
  else if (k.sched.isRunning)
    k.trace.emit({ type: 'read-retry', sub: sub.name, id: sub.order, readSeq: seq, atomic: op === 'check_retry' });
}

/**
 * `mmu_interval_set_seq`: must be called from the invalidate callback, under the lock used for
 * `mmuIntervalReadRetry`, with the `curSeq` it was given. In the kernel a `WRITE_ONCE` of
 * `interval_sub->invalidate_seq` (include/linux/mmu_notifier.h): an atomic store that orders
 * nothing by itself, so a tracked write for the `data-race` rule.
 */
export function mmuIntervalSetSeq(sub: MmuIntervalNotifier, curSeq: number): void {
  sub.invalidateSeq = curSeq;
  seqAccess(sub, 'set_seq', curSeq);
}

async function callInterval(
  sub: MmuIntervalNotifier,
  range: MutableRange,
  curSeq: number,
  finishes: MmuIntervalNotifierFinish[],
): Promise<boolean> {
  const k = range.mm.kernel;
  const ops = sub.ops as MmuIntervalNotifierOps;
  const atomic = !mmuNotifierRangeBlockable(range);
  const twoPass = typeof ops.invalidateStart === 'function';
  const op = twoPass ? 'invalidate_start' : 'invalidate';
  const context = `interval notifier "${sub.name}" ${op}, inv #${range.id}`;
  if (k.trace.on) {
    k.trace.emit({ type: 'inv-callback', inv: range.id, sub: sub.name, op: 'invalidate', phase: 'enter', result: null, leaked: [] });
  }
  const facts: InvokeFacts = { leaked: [] };
  let ok: boolean;
  if (twoPass) {
    const r = await invokeDriver(
      k.sched,
      context,
      atomic,
      () => (ops.invalidateStart as NonNullable<MmuIntervalNotifierOps['invalidateStart']>)(sub, range, curSeq),
      facts,
      true,
    );
    ok = checkBool(context, r?.ok);
    if (ok && r.finish !== null) {
      r.finish.notifier = sub;
      finishes.push(r.finish);
    }
  } else {
    const r = await invokeDriver(
      k.sched,
      context,
      atomic,
      () => (ops.invalidate as NonNullable<MmuIntervalNotifierOps['invalidate']>)(sub, range, curSeq),
      facts,
      true,
    );
    ok = checkBool(context, r);
  }
  if (k.trace.on) {
    k.trace.emit({
      type: 'inv-callback',
      inv: range.id,
      sub: sub.name,
      op: 'invalidate',
      phase: 'return',
      result: ok,
      leaked: facts.leaked,
    });
  }
  return ok;
}

function checkBool(context: string, r: unknown): boolean {
  if (typeof r !== 'boolean') {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `${context} returned ${String(r)}; an interval invalidate callback must return true or false`,
    );
  }
  return r;
}

async function finishPasses(range: MutableRange, finishes: MmuIntervalNotifierFinish[]): Promise<void> {
  const k = range.mm.kernel;
  for (const f of finishes) {
    const sub = f.notifier as MmuIntervalNotifier;
    const ops = sub.ops as MmuIntervalNotifierOps;
    const facts: InvokeFacts = { leaked: [] };
    await invokeDriver(
      k.sched,
      `interval notifier "${sub.name}" invalidate_finish, inv #${range.id}`,
      !mmuNotifierRangeBlockable(range),
      () => ops.invalidateFinish?.(f),
      facts,
      true,
    );
  }
}

/**
 * `mn_itree_invalidate`: calls every intersecting interval notifier with one odd `cur_seq`.
 * Returns 0, or `-EAGAIN` when a callback of a non-blockable range returned false (the remaining
 * notifiers are skipped and the itree part is ended here).
 */
export async function mnItreeInvalidate(subs: MmuNotifierSubscriptions, range: MutableRange): Promise<number> {
  subs.lockedSection();
  subs.activeInvalidateRanges++;
  const hits = subs.itree.query(range.start, range.end - 1);
  if (hits.length > 0 && subs.invalidateSeq % 2 === 0) subs.invalidateSeq++;
  const curSeq = subs.invalidateSeq;
  const finishes: MmuIntervalNotifierFinish[] = [];
  let err = 0;
  for (const sub of hits) {
    const ok = await callInterval(sub, range, curSeq, finishes);
    if (!ok) {
      if (mmuNotifierRangeBlockable(range)) {
        range.mm.kernel.warn('false-while-blockable', `interval notifier "${sub.name}" returned false for blockable inv #${range.id}`);
        continue;
      }
      err = -EAGAIN;
      break;
    }
  }
  await finishPasses(range, finishes);
  if (err !== 0) subs.invEnd();
  return err;
}

/** `mn_itree_release`: a blockable RELEASE over the whole address space, at exit. */
export async function mnItreeRelease(subs: MmuNotifierSubscriptions, range: MutableRange): Promise<void> {
  subs.lockedSection();
  subs.activeInvalidateRanges++;
  const hits = subs.itree.query(range.start, range.end - 1);
  if (hits.length > 0 && subs.invalidateSeq % 2 === 0) subs.invalidateSeq++;
  const curSeq = subs.invalidateSeq;
  const finishes: MmuIntervalNotifierFinish[] = [];
  for (const sub of hits) {
    const ok = await callInterval(sub, range, curSeq, finishes);
    if (!ok)
      range.mm.kernel.warn(
        'false-while-blockable',
        `interval notifier "${sub.name}" returned false for ${MMU_NOTIFY_RELEASE === range.event ? 'RELEASE' : 'blockable'} inv #${range.id}`,
      );
  }
  await finishPasses(range, finishes);
  subs.invEnd();
}
