/**
 * Classic `struct mmu_notifier` subscriptions and the invalidation entry points
 * (`mmu_notifier_invalidate_range_start/end`, `_nonblock`, `mmu_notifier_release`), following
 * mm/mmu_notifier.c: interval notifiers first, then the classic list.
 */
import { EINVAL, HmmlabError } from '../errors.js';
import { ULONG_MAX } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import { mnItreeInvalidate, mnItreeRelease } from './interval-notifier.js';
import { type InvokeFacts, invokeDriver } from './invoke.js';
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_RELEASE,
  type MmuNotifierEvent,
  type MmuNotifierRange,
  type MutableRange,
  mmuNotifierRangeBlockable,
} from './range.js';
import { mmuNotifierSrcu } from './srcu.js';
import { MmuNotifierSubscriptions } from './subscriptions.js';

/** `struct mmu_notifier_ops` (classic subscriptions). */
export interface MmuNotifierOps {
  /** Called at exit or unregister: must tear down every device mapping of the mm. */
  release?(sub: MmuNotifier, mm: Mm): void | Promise<void>;
  /** Return 0, or `-EAGAIN` when the range is not blockable and the work would sleep. */
  invalidateRangeStart?(sub: MmuNotifier, range: MmuNotifierRange): number | Promise<number>;
  /** Called after the CPU page tables of the range changed; may sleep. */
  invalidateRangeEnd?(sub: MmuNotifier, range: MmuNotifierRange): void | Promise<void>;
  /** v6.6+: called under the page-table lock when the CPU TLB is flushed; must not sleep. */
  archInvalidateSecondaryTlbs?(sub: MmuNotifier, mm: Mm, start: number, end: number): void;
  /** For `mmuNotifierGet`: allocates the subscription. */
  allocNotifier?(mm: Mm): MmuNotifier;
  /** For `mmuNotifierPut`: frees it. */
  freeNotifier?(sub: MmuNotifier): void;
}

const KNOWN_OPS = new Set([
  'release',
  'invalidateRangeStart',
  'invalidateRangeEnd',
  'archInvalidateSecondaryTlbs',
  'allocNotifier',
  'freeNotifier',
]);

/** A classic subscription. Subclass it to carry driver state. */
export class MmuNotifier {
  /** The callbacks. */
  ops: MmuNotifierOps;
  /** The address space, set by registration. */
  mm: Mm | null = null;
  /** `mmu_notifier_get` references. */
  users = 0;
  /** On the mm's list (`!hlist_unhashed`). */
  hashed = false;
  /** Name used in traces and reports. */
  name: string;

  constructor(ops: MmuNotifierOps, name = 'mmu notifier') {
    this.ops = ops;
    this.name = name;
  }
}

/** @internal Creates the per-mm state on first use. */
export function ensureSubscriptions(mm: Mm): MmuNotifierSubscriptions {
  if (mm.notifierSubscriptions === null) {
    mm.notifierSubscriptions = new MmuNotifierSubscriptions(mm.kernel.sched, `mm ${mm.id}`);
  }
  return mm.notifierSubscriptions;
}

function checkOps(api: string, sub: MmuNotifier): void {
  for (const k of Object.keys(sub.ops)) {
    if (!KNOWN_OPS.has(k)) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${api}: ops of "${sub.name}" has an unknown member "${k}"; expected one of ${[...KNOWN_OPS].join(', ')}`,
      );
    }
  }
}

function invalidationBegins(mm: Mm): void {
  mm.invalidationsInFlight++;
}

function invalidationEnds(mm: Mm): void {
  if (--mm.invalidationsInFlight === 0) mm.invalidationsWq?.wakeUpAll();
}

/**
 * @internal The part of `mm_take_all_locks` registration depends on: with the mmap lock held for
 * writing, sleeps until no invalidation of `mm` is between its start and its end. Those that
 * hold the mmap lock are already excluded; the rmap walkers (reclaim, compaction,
 * `try_to_migrate`) hold the anon_vma and i_mmap locks mm_take_all_locks takes, so a new
 * subscription never sees the end of an invalidation whose start it missed.
 */
export async function mmTakeAllLocks(mm: Mm): Promise<void> {
  if (mm.invalidationsInFlight === 0) return;
  mm.invalidationsWq ??= mm.kernel.waitQueue(`mm ${mm.id} mm_take_all_locks`);
  await mm.invalidationsWq.waitEvent(() => mm.invalidationsInFlight === 0);
}

/**
 * `__mmu_notifier_register` BUGs on an mm without users (`BUG_ON(atomic_read(&mm->mm_users) <= 0)`):
 * a registration needs a user reference (`mmget`, `mmget_not_zero`) for its whole length, and an
 * mm whose last user is gone is being torn down by `exit_mmap`.
 */
export function registerChecksUsers(api: string, mm: Mm): void {
  if (mm.users > 0) return;
  throw new HmmlabError(
    'ERR_STATE',
    `${api}: mm ${mm.id} has no users (mm_users ${mm.users}): the kernel BUGs here (mm/mmu_notifier.c, __mmu_notifier_register); register only while holding a user reference (mmget_not_zero)`,
  );
}

/** `__mmu_notifier_register`: the caller holds the mmap lock for writing. */
export function mmuNotifierRegisterLocked(sub: MmuNotifier, mm: Mm): number {
  checkOps('__mmu_notifier_register', sub);
  if (!mm.mmapLock.isWriteHeldByCurrent()) {
    throw new HmmlabError('ERR_NOT_LOCKED', '__mmu_notifier_register: the mmap lock is not held for writing; use mmuNotifierRegister');
  }
  if (sub.hashed) {
    throw new HmmlabError('ERR_DOUBLE_INSERT', `__mmu_notifier_register: "${sub.name}" is already registered`);
  }
  registerChecksUsers('__mmu_notifier_register', mm);
  const o = sub.ops;
  if (o.archInvalidateSecondaryTlbs !== undefined && (o.invalidateRangeStart !== undefined || o.invalidateRangeEnd !== undefined)) {
    mm.kernel.warn('register-both', `"${sub.name}" has archInvalidateSecondaryTlbs and invalidateRangeStart/End; v6.6+ rejects it`);
    return -EINVAL;
  }
  const subs = ensureSubscriptions(mm);
  mm.count++; // mmgrab
  sub.mm = mm;
  sub.users = 1;
  sub.hashed = true;
  subs.list.unshift(sub); // hlist_add_head_rcu
  return 0;
}

/** `mmu_notifier_register`: takes the mmap lock for writing. */
export async function mmuNotifierRegister(sub: MmuNotifier, mm: Mm): Promise<number> {
  await mm.mmapLock.downWrite();
  try {
    await mmTakeAllLocks(mm);
    return mmuNotifierRegisterLocked(sub, mm);
  } finally {
    mm.mmapLock.upWrite();
  }
}

/**
 * `mmu_notifier_get_locked`: returns the mm's subscription with these `ops`, or allocates one with
 * `ops.allocNotifier`. Pair with {@link mmuNotifierPut}. The caller holds the mmap write lock.
 */
export function mmuNotifierGetLocked(ops: MmuNotifierOps, mm: Mm): MmuNotifier {
  const subs = mm.notifierSubscriptions;
  if (subs !== null) {
    for (const s of subs.list) {
      if (s.ops === ops) {
        s.users++;
        return s;
      }
    }
  }
  if (ops.allocNotifier === undefined) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', 'mmu_notifier_get: ops.allocNotifier is required');
  }
  const sub = ops.allocNotifier(mm);
  sub.ops = ops;
  const ret = mmuNotifierRegisterLocked(sub, mm);
  if (ret !== 0) throw new HmmlabError('ERR_STATE', `mmu_notifier_get: registration failed with ${ret}`);
  return sub;
}

/** `mmu_notifier_get`: {@link mmuNotifierGetLocked} under the mmap write lock. */
export async function mmuNotifierGet(ops: MmuNotifierOps, mm: Mm): Promise<MmuNotifier> {
  await mm.mmapLock.downWrite();
  try {
    await mmTakeAllLocks(mm);
    return mmuNotifierGetLocked(ops, mm);
  } finally {
    mm.mmapLock.upWrite();
  }
}

/**
 * `mmu_notifier_put`: drops a `get` reference; the last one unhashes the subscription and frees
 * it with `ops.freeNotifier` after an SRCU grace period (`call_srcu`): at once when no notifier
 * method is running, else from a kernel task once those in flight have returned. `release` is
 * not called.
 */
export function mmuNotifierPut(sub: MmuNotifier): void {
  const mm = sub.mm;
  if (mm === null || sub.users <= 0) {
    throw new HmmlabError('ERR_STATE', `mmu_notifier_put: "${sub.name}" has no references left`);
  }
  if (--sub.users > 0) return;
  unhash(mm, sub);
  mm.count--;
  const free = sub.ops.freeNotifier;
  if (free === undefined) return;
  // call_srcu: the subscription is freed once the methods in flight have returned.
  const srcu = mmuNotifierSrcu(mm.kernel);
  if (!srcu.busy) {
    free.call(sub.ops, sub);
    return;
  }
  mm.kernel.spawn(`call_srcu(${sub.name})`, 'kernel', async () => {
    await srcu.synchronize();
    free.call(sub.ops, sub);
  });
}

function unhash(mm: Mm, sub: MmuNotifier): void {
  const subs = mm.notifierSubscriptions;
  if (subs === null) return;
  const i = subs.list.indexOf(sub);
  if (i >= 0) subs.list.splice(i, 1);
  sub.hashed = false;
}

/**
 * `mmu_notifier_unregister`: calls `release` if still registered, unhashes, then waits
 * (`synchronize_srcu`) for every notifier method in flight to return: a `release` that
 * `exit_mmap` is running concurrently returns before this does, so the caller may then free what
 * the callbacks use.
 */
export async function mmuNotifierUnregister(sub: MmuNotifier, mm: Mm): Promise<void> {
  if (sub.mm !== mm) {
    throw new HmmlabError('ERR_NOT_INSERTED', `mmu_notifier_unregister: "${sub.name}" is not registered on mm ${mm.id}`);
  }
  const srcu = mmuNotifierSrcu(mm.kernel);
  if (sub.hashed) {
    const release = sub.ops.release;
    if (release !== undefined) {
      const facts: InvokeFacts = { leaked: [] };
      await srcu.read(() =>
        invokeDriver(
          mm.kernel.sched,
          `mmu notifier "${sub.name}" release (unregister)`,
          false,
          () => release.call(sub.ops, sub, mm),
          facts,
        ),
      );
    }
    unhash(mm, sub);
  }
  // Wait for any running method to finish, `->release` run by `exit_mmap` included.
  await srcu.synchronize();
  sub.mm = null;
  mm.count--;
}

/** @internal Builds a range; `owner` goes into the field the mm's profile carries. */
export function mmuNotifierRangeInitOwner(
  event: MmuNotifierEvent,
  flags: number,
  mm: Mm,
  start: number,
  end: number,
  owner: unknown,
): MutableRange {
  const k = mm.kernel;
  const field = mm.profile.ownerField;
  return {
    mm,
    start,
    end,
    flags,
    event,
    owner: field === 'owner' ? owner : undefined,
    migratePgmapOwner: field === 'migratePgmapOwner' ? owner : undefined,
    data: field === 'data' ? owner : undefined,
    id: k.nextInvId++,
    modelOwner: field === null ? undefined : owner,
  };
}

/** @internal `mmu_notifier_range_init`: a range without owner. */
export function mmuNotifierRangeInit(event: MmuNotifierEvent, flags: number, mm: Mm, start: number, end: number): MutableRange {
  return mmuNotifierRangeInitOwner(event, flags, mm, start, end, undefined);
}

function emitStart(range: MutableRange): void {
  const k = range.mm.kernel;
  if (k.trace.on) {
    k.trace.emit({
      type: 'inv-start',
      inv: range.id,
      mm: range.mm.id,
      event: range.event,
      start: range.start,
      end: range.end,
      owner: range.modelOwner,
      blockable: mmuNotifierRangeBlockable(range),
    });
  }
}

async function hlistStart(subs: MmuNotifierSubscriptions, range: MutableRange): Promise<number> {
  return mmuNotifierSrcu(range.mm.kernel).read(() => hlistStartLocked(subs, range));
}

/** `mn_hlist_invalidate_range_start` inside its SRCU read-side section. */
async function hlistStartLocked(subs: MmuNotifierSubscriptions, range: MutableRange): Promise<number> {
  const k = range.mm.kernel;
  const blockable = mmuNotifierRangeBlockable(range);
  // A trylock may fail here when the kernel survives the failure: no interval tree left
  // invalidating by it (or the what-if that ends the tree's part, see invalidateStart).
  const contendable = !subs.hasItree || range.mm.profile.classicFailureItree === 'end';
  let ret = 0;
  for (const sub of subs.list.slice()) {
    const start = sub.ops.invalidateRangeStart;
    if (start === undefined) continue;
    const facts: InvokeFacts = { leaked: [] };
    if (k.trace.on) {
      k.trace.emit({
        type: 'inv-callback',
        inv: range.id,
        sub: sub.name,
        op: 'invalidate-range-start',
        phase: 'enter',
        result: null,
        leaked: [],
      });
    }
    const r = await invokeDriver(
      k.sched,
      `mmu notifier "${sub.name}" invalidate_range_start, inv #${range.id}`,
      !blockable,
      () => start.call(sub.ops, sub, range),
      facts,
      contendable,
    );
    if (typeof r !== 'number') {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `mmu notifier "${sub.name}" invalidate_range_start returned ${String(r)}; return 0 or -EAGAIN`,
      );
    }
    if (k.trace.on) {
      k.trace.emit({
        type: 'inv-callback',
        inv: range.id,
        sub: sub.name,
        op: 'invalidate-range-start',
        phase: 'return',
        result: r,
        leaked: facts.leaked,
      });
    }
    if (r !== 0) {
      if (blockable || r !== -11) {
        k.warn(
          blockable ? 'start-failed-blockable' : 'start-failed-errno',
          `"${sub.name}" invalidate_range_start returned ${r} in a ${blockable ? '' : 'non-'}blockable context`,
        );
      }
      if (sub.ops.invalidateRangeEnd !== undefined) {
        k.warn('start-failed-with-end', `"${sub.name}" can fail invalidate_range_start but also implements invalidate_range_end`);
      }
      ret = r;
    }
  }
  if (ret !== 0) {
    // Any that succeeded start expect their end to be called (c2655835fd8c).
    await hlistEnd(subs, range);
  }
  return ret;
}

async function hlistEnd(subs: MmuNotifierSubscriptions, range: MutableRange): Promise<void> {
  await mmuNotifierSrcu(range.mm.kernel).read(() => hlistEndLocked(subs, range));
}

/** `mn_hlist_invalidate_end` inside its SRCU read-side section. */
async function hlistEndLocked(subs: MmuNotifierSubscriptions, range: MutableRange): Promise<void> {
  const k = range.mm.kernel;
  const blockable = mmuNotifierRangeBlockable(range);
  for (const sub of subs.list.slice()) {
    const end = sub.ops.invalidateRangeEnd;
    if (end === undefined) continue;
    const facts: InvokeFacts = { leaked: [] };
    if (k.trace.on) {
      k.trace.emit({
        type: 'inv-callback',
        inv: range.id,
        sub: sub.name,
        op: 'invalidate-range-end',
        phase: 'enter',
        result: null,
        leaked: [],
      });
    }
    await invokeDriver(
      k.sched,
      `mmu notifier "${sub.name}" invalidate_range_end, inv #${range.id}`,
      !blockable,
      () => end.call(sub.ops, sub, range),
      facts,
    );
    if (k.trace.on) {
      k.trace.emit({
        type: 'inv-callback',
        inv: range.id,
        sub: sub.name,
        op: 'invalidate-range-end',
        phase: 'return',
        result: null,
        leaked: facts.leaked,
      });
    }
  }
}

async function invalidateStart(range: MutableRange): Promise<number> {
  emitStart(range);
  const subs = range.mm.notifierSubscriptions;
  if (subs === null) return 0;
  if (subs.hasItree) {
    const ret = await mnItreeInvalidate(subs, range);
    if (ret !== 0) return ret;
  }
  if (subs.list.length > 0) {
    const ret = await hlistStart(subs, range);
    // The kernel returns the classic subscribers' error as it is: the interval tree's part of
    // this invalidation, begun by mn_itree_invalidate above, is never ended, because a
    // non-blocking caller must not call _end after -EAGAIN (mm/oom_kill.c, __oom_reap_task_mm).
    // The 'end' what-if ends it here, as mn_itree_invalidate does for its own -EAGAIN.
    if (ret !== 0 && subs.hasItree && !mmuNotifierRangeBlockable(range) && range.mm.profile.classicFailureItree === 'end') subs.invEnd();
    return ret;
  }
  return 0;
}

/**
 * `mmu_notifier_invalidate_range_start`: forces the range blockable and calls every
 * subscription. After it returns the core may change the entries of the range.
 */
export async function mmuNotifierInvalidateRangeStart(range: MutableRange): Promise<void> {
  range.flags |= MMU_NOTIFIER_RANGE_BLOCKABLE;
  invalidationBegins(range.mm);
  await invalidateStart(range);
  const k = range.mm.kernel;
  if (k.trace.on) k.trace.emit({ type: 'inv-started', inv: range.id });
}

/**
 * `mmu_notifier_invalidate_range_start_nonblock`: the OOM reaper's form; callbacks must not
 * sleep. Returns 0 or `-EAGAIN`; on failure the caller must not touch the range or call `_end`.
 */
export async function mmuNotifierInvalidateRangeStartNonblock(range: MutableRange): Promise<number> {
  range.flags &= ~MMU_NOTIFIER_RANGE_BLOCKABLE;
  invalidationBegins(range.mm);
  const ret = await invalidateStart(range);
  if (ret !== 0) invalidationEnds(range.mm);
  const k = range.mm.kernel;
  if (k.trace.on) k.trace.emit(ret !== 0 ? { type: 'inv-end', inv: range.id, aborted: true } : { type: 'inv-started', inv: range.id });
  return ret;
}

/** `mmu_notifier_invalidate_range_end`: the interval seq goes back to even first, then classic ends run. */
export async function mmuNotifierInvalidateRangeEnd(range: MutableRange): Promise<void> {
  const subs = range.mm.notifierSubscriptions;
  const k = range.mm.kernel;
  if (subs !== null) {
    if (subs.hasItree) subs.invEnd();
    if (subs.list.length > 0) await hlistEnd(subs, range);
  }
  invalidationEnds(range.mm);
  if (k.trace.on) k.trace.emit({ type: 'inv-end', inv: range.id, aborted: false });
}

/**
 * `mmu_notifier_arch_invalidate_secondary_tlbs`: called where the CPU TLB is flushed, under the
 * page-table lock; the callbacks must not sleep (a returned promise is reported and ignored).
 */
export function mmuNotifierArchInvalidateSecondaryTlbs(mm: Mm, start: number, end: number): void {
  const subs = mm.notifierSubscriptions;
  if (subs === null) return;
  const k = mm.kernel;
  for (const sub of subs.list) {
    const f = sub.ops.archInvalidateSecondaryTlbs;
    if (f === undefined) continue;
    const t = k.sched.current;
    t.contexts.push(`mmu notifier "${sub.name}" arch_invalidate_secondary_tlbs`);
    try {
      const r: unknown = f.call(sub.ops, sub, mm, start, end);
      if (r instanceof Promise) {
        k.sched.current.atomicDepth++;
        k.sched.mightSleep('arch_invalidate_secondary_tlbs returned a promise');
        k.sched.current.atomicDepth--;
      }
    } finally {
      t.contexts.pop();
    }
  }
}

/**
 * `__mmu_notifier_release` (exit_mmap): a RELEASE invalidation of every interval notifier, then
 * `release` of every classic subscription, which are then unhashed.
 */
export async function mmuNotifierRelease(mm: Mm): Promise<void> {
  const subs = mm.notifierSubscriptions;
  if (subs === null) return;
  const k = mm.kernel;
  if (subs.hasItree) {
    const range = mmuNotifierRangeInit(MMU_NOTIFY_RELEASE, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, 0, ULONG_MAX);
    emitStart(range);
    await mnItreeRelease(subs, range);
    if (k.trace.on) k.trace.emit({ type: 'inv-started', inv: range.id });
    if (k.trace.on) k.trace.emit({ type: 'inv-end', inv: range.id, aborted: false });
  }
  // mn_hlist_release: the calls in one read-side section, then the unhash, then a grace period.
  const srcu = mmuNotifierSrcu(k);
  await srcu.read(() => hlistRelease(subs, mm));
  for (const sub of subs.list.slice()) unhash(mm, sub);
  await srcu.synchronize();
}

/** The `->release` calls of `mn_hlist_release`. */
async function hlistRelease(subs: MmuNotifierSubscriptions, mm: Mm): Promise<void> {
  const k = mm.kernel;
  for (const sub of subs.list.slice()) {
    const release = sub.ops.release;
    if (release === undefined) continue;
    const facts: InvokeFacts = { leaked: [] };
    if (k.trace.on) {
      k.trace.emit({ type: 'inv-callback', inv: -1, sub: sub.name, op: 'release', phase: 'enter', result: null, leaked: [] });
    }
    await invokeDriver(k.sched, `mmu notifier "${sub.name}" release`, false, () => release.call(sub.ops, sub, mm), facts);
    if (k.trace.on) {
      k.trace.emit({ type: 'inv-callback', inv: -1, sub: sub.name, op: 'release', phase: 'return', result: null, leaked: facts.leaked });
    }
  }
}
