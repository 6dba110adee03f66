/**
 * `data-race`: two tasks touch the same driver state, at least one writes, and nothing orders
 * them: no lock held by both, no unlock → lock, wake-up → wait, or `queue_work` → work between
 * them (core sched/happens-before.ts). The state is a device page-table entry (every `dev-pte`
 * change), a `SharedCell`/`SharedMap` key (`shared-access`), an interval notifier's sequence
 * (`set-seq` is a `WRITE_ONCE`, `read-retry` a plain load, or a `READ_ONCE` for `check_retry`:
 * include/linux/mmu_notifier.h, whose `mmu_interval_read_retry` must run under the lock
 * `mmu_interval_set_seq` ran under), or a DMA mapping (`dma`: a `dma_unmap_page` must be ordered after the
 * `dma_map_page` whose handle it tears down). Happens-before is independent of the interleaving that ran: a race is
 * reported even where the model took no preemption point between the two accesses, as on a real
 * machine the notifier callback runs on another CPU at the same time as the fault path
 * (the shadow state follows FastTrack: the last write, and the last read of each task).
 */
import { epochOf, happensBefore, hex, type Task, type TraceEvent, type Waitable } from '@hmmlab/core';
import type { Device } from '@hmmlab/harness';
import type { OracleContext } from '../context.js';

interface Access {
  task: Task;
  epoch: number;
  step: number;
  write: boolean;
  /** What the access did, as a report says it: `writes`, `reads`, `maps`, `unmaps`. */
  verb: string;
  atomic: boolean;
  /** Of a device entry change: {@link ROLE_INSTALL}, {@link ROLE_REVOKE}, or {@link ROLE_OTHER}. */
  role: Role;
  locks: readonly string[];
  /** The locks themselves: two of one name are told apart in the report. */
  held: readonly Waitable[];
  context: string | null;
}

/**
 * What a device entry change does in the mirroring protocol. Two updates of an entry that are
 * each atomic (an XArray's `xa_store` and `xa_erase` take `xa_lock`) are no data race, with one
 * exception: an install outside an invalidation callback and a change inside one. The fault path
 * must decide and store its entry under the lock the callback holds (Documentation/mm/hmm.rst:
 * `take_lock(driver->update)`, `mmu_interval_read_retry`, update the device page table,
 * `release_lock`); when nothing orders the two, the callback can run between the fault path's
 * check and its store, and the store then maps a page the callback revoked. The model runs the
 * code between two awaits at once, so that interleaving may never run: the order of the two
 * changes is what shows it.
 */
type Role = 0 | 1 | 2;
/** Any other access: a read, a clear outside a callback, a shared cell or sequence. */
const ROLE_OTHER: Role = 0;
/** A device entry made or changed to a present one outside an invalidation callback. */
const ROLE_INSTALL: Role = 1;
/** A device entry changed inside an invalidation callback. */
const ROLE_REVOKE: Role = 2;

interface Shadow {
  write: Access | null;
  /** The last read of each task since the last write. */
  reads: Access[];
}

type DevPteEvent = Extract<TraceEvent, { type: 'dev-pte' }>;
type DevAccessEvent = Extract<TraceEvent, { type: 'dev-access' }>;
type SharedEvent = Extract<TraceEvent, { type: 'shared-access' }>;
type DmaEvent = Extract<TraceEvent, { type: 'dma' }>;
type SeqEvent = Extract<TraceEvent, { type: 'set-seq' | 'read-retry' }>;

/** Values by device VM id and address: a location's key without a string built per access. */
class ByVmVa<T> {
  private readonly byVm = new Map<number, Map<number, T>>();

  get(vm: number, va: number): T | undefined {
    return this.byVm.get(vm)?.get(va);
  }

  /** The value of `(vm, va)`, made by `make` if there is none. */
  getOrMake(vm: number, va: number, make: () => T): T {
    let byVa = this.byVm.get(vm);
    if (byVa === undefined) {
      byVa = new Map();
      this.byVm.set(vm, byVa);
    }
    let v = byVa.get(va);
    if (v === undefined) {
      v = make();
      byVa.set(va, v);
    }
    return v;
  }
}

const newShadow = (): Shadow => ({ write: null, reads: [] });
const newMapped = (): { uses: Access[]; revoked: Access | null } => ({ uses: [], revoked: null });

/** How a report names a device entry's location (its dedup key). */
const pteKey = (vm: number, va: number): string => `pte:${vm}:${va}`;

/** The shadow state of every tracked location, for one run. */
export class RaceShadow {
  /** Device entries' shadows, by VM and address. */
  private readonly pteShadow = new ByVmVa<Shadow>();
  /** Interval notifiers' sequences' shadows, by notifier id. */
  private readonly seqShadow = new Map<number, Shadow>();
  /** Shared cells by object id (ids are small and dense, numbered per kernel). */
  private readonly cellShadow: (Shadow | undefined)[] = [];
  /** Shared map keys: object id → key → shadow (no key string built per access). */
  private readonly sharedShadow = new Map<number, Map<string, Shadow>>();
  /** Live DMA mappings of each device page made during the run: their map accesses. */
  private readonly dmaLive = new Map<string, Access[]>();
  /**
   * Per device entry: the driver's own copies through it (`DeviceVm.accessMapped`), the last of
   * each task since an invalidation callback last changed the entry, and that change.
   */
  private readonly mapped = new ByVmVa<{ uses: Access[]; revoked: Access | null }>();
  /** Device VMs by id: their device and whether their entries are atomic. */
  private readonly vms = new Map<number, { device: Device | null; atomic: boolean }>();

  /** A device entry changed: a write of that entry by the running task. */
  onDevPte(ctx: OracleContext, ev: DevPteEvent): void {
    let vm = this.vms.get(ev.vm);
    if (vm === undefined) {
      const device = ctx.world.devices.find((d) => d.name === ev.dev) ?? null;
      vm = { device, atomic: device?.vms.find((v) => v.id === ev.vm)?.atomicEntries ?? false };
      this.vms.set(ev.vm, vm);
    }
    const sched = ctx.world.kernel.sched;
    // Roles matter only between atomic updates (any two unordered plain updates race).
    const role =
      !vm.atomic || !sched.isRunning
        ? ROLE_OTHER
        : inInvalidationCallback(sched.current)
          ? ROLE_REVOKE
          : ev.new !== 0
            ? ROLE_INSTALL
            : ROLE_OTHER;
    this.access(ctx, ev, this.pteShadow.getOrMake(ev.vm, ev.va, newShadow), true, vm.atomic, ev.va, vm.device, role);
    this.onEntryChange(ctx, ev, vm.device);
  }

  /**
   * Driver code copied through a device entry (`dmirror_do_read`/`dmirror_do_write` load the
   * entry, then `memcpy` to or from its page). On a device whose accesses are the driver's own
   * code there is no TLB to flush: an invalidation callback that changes the entry revokes the
   * access only if the copy cannot still be running, so every such copy must be ordered with the
   * callback (by the lock the callback takes: test_hmm's `dmirror->mutex` around
   * `dmirror_do_update` and around each copy, lib/test_hmm.c). A copy unordered with the change,
   * before or after it, can on a real machine read or write the page after the callback returned,
   * when the kernel may already have freed or reused it.
   */
  onMappedAccess(ctx: OracleContext, ev: DevAccessEvent): void {
    const sched = ctx.world.kernel.sched;
    if (!sched.isRunning) return;
    const page = ctx.world.kernel.pageAlignDown(ev.va);
    const m = this.mapped.getOrMake(ev.vm, page, newMapped);
    const t = sched.current;
    const cur = accessOf(t, ev, false, false);
    const device = ctx.world.devices.find((d) => d.name === ev.dev) ?? null;
    if (m.revoked !== null && races(m.revoked, t, false)) this.reportRace(ctx, ev, pteKey(ev.vm, page), m.revoked, cur, ev.va, device);
    const i = m.uses.findIndex((u) => u.task === t);
    if (i >= 0) m.uses[i] = cur;
    else m.uses.push(cur);
  }

  /** A device entry changed: inside an invalidation callback, it must be ordered with the driver's copies through it. */
  private onEntryChange(ctx: OracleContext, ev: DevPteEvent, device: Device | null): void {
    const t = ctx.world.kernel.sched.current;
    const m = this.mapped.get(ev.vm, ev.va);
    if (!inInvalidationCallback(t)) {
      if (m !== undefined) m.revoked = null;
      return;
    }
    const cur = accessOf(t, ev, true, false);
    const prior = m?.uses.find((u) => races(u, t, false));
    if (prior !== undefined) this.reportRace(ctx, ev, pteKey(ev.vm, ev.va), prior, cur, ev.va, device);
    const s = m ?? this.mapped.getOrMake(ev.vm, ev.va, newMapped);
    s.uses.length = 0;
    s.revoked = cur;
  }

  /**
   * A device mapped or unmapped a page for DMA. `dma_unmap_page` tears down the handle one
   * `dma_map_page` returned (kernel/dma/mapping.c), and the unmapping path can only know that
   * handle through the driver's own tables: the map must happen before the unmap. Two mappings of
   * one page are two handles, mapped and unmapped independently, so maps never conflict with each
   * other, and an unmap is matched with a live mapping of the page that is ordered before it (the
   * latest such). An unmap that no live mapping of the page is ordered before is a race with the
   * latest unordered map: the callback unmapping what a fault path mapped after dropping the lock
   * the callback holds. Real drivers map and unmap under one lock (drivers/gpu/drm/drm_gpusvm.c:
   * `drm_gpusvm_range_get_pages` maps under the notifier lock that the invalidation holds around
   * `drm_gpusvm_range_unmap_pages`; drivers/infiniband/core/umem_odp.c:
   * `ib_umem_odp_map_dma_and_lock` and `ib_umem_odp_unmap_dma_pages` under `umem_mutex`).
   */
  onDma(ctx: OracleContext, ev: DmaEvent): void {
    const sched = ctx.world.kernel.sched;
    if (!sched.isRunning) return;
    const key = `dma:${ev.dev}:${ev.pfn}`;
    let live = this.dmaLive.get(key);
    if (live === undefined) {
      live = [];
      this.dmaLive.set(key, live);
    }
    const t = sched.current;
    const cur = accessOf(t, ev, ev.op === 'unmap', false);
    if (ev.op === 'map') {
      live.push(cur);
      return;
    }
    const device = ctx.world.devices.find((d) => d.name === ev.dev) ?? null;
    // Mappings made before the run (or before tracking) are ordered before everything.
    const before = (device?.dma.get(ev.pfn) ?? 0) + 1;
    for (let i = live.length - 1; i >= 0; i--) {
      const m = live[i] as Access;
      if (m.task === t || happensBefore(m.task.id, m.epoch, t)) {
        live.splice(i, 1);
        return;
      }
    }
    if (before > live.length) return;
    const prior = live.pop();
    if (prior !== undefined) this.reportRace(ctx, ev, key, prior, cur, null, device);
  }

  /** A shared cell or map key was read or written. */
  onShared(ctx: OracleContext, ev: SharedEvent): void {
    if (ev.key === '') {
      let c = this.cellShadow[ev.obj];
      if (c === undefined) {
        c = { write: null, reads: [] };
        this.cellShadow[ev.obj] = c;
      }
      this.access(ctx, ev, c, ev.write, ev.atomic, null, null);
      return;
    }
    let byKey = this.sharedShadow.get(ev.obj);
    if (byKey === undefined) {
      byKey = new Map();
      this.sharedShadow.set(ev.obj, byKey);
    }
    let s = byKey.get(ev.key);
    if (s === undefined) {
      s = { write: null, reads: [] };
      byKey.set(ev.key, s);
    }
    // The report's key is built only if there is a race.
    this.access(ctx, ev, s, ev.write, ev.atomic, null, null);
  }

  /** `mmu_interval_set_seq` wrote a notifier's sequence (atomically), or a driver read it back. */
  onSeq(ctx: OracleContext, ev: SeqEvent): void {
    const write = ev.type === 'set-seq';
    let s = this.seqShadow.get(ev.id);
    if (s === undefined) {
      s = newShadow();
      this.seqShadow.set(ev.id, s);
    }
    this.access(ctx, ev, s, write, write || ev.atomic, null, null);
  }

  /** An access to the location whose shadow is `s`; a report names it by {@link locationKey}. */
  private access(
    ctx: OracleContext,
    ev: DevPteEvent | SharedEvent | SeqEvent,
    s: Shadow,
    write: boolean,
    atomic: boolean,
    va: number | null,
    device: Device | null,
    role: Role = ROLE_OTHER,
  ): void {
    const sched = ctx.world.kernel.sched;
    // Outside a run nothing runs concurrently (set-up, or state inspected after the run).
    if (!sched.isRunning) return;
    const t = sched.current;
    const w = s.write;
    let prior: Access | null = null;
    if (w !== null && races(w, t, atomic, role)) prior = w;
    if (prior === null && write) {
      for (const r of s.reads) {
        if (races(r, t, atomic, role)) {
          prior = r;
          break;
        }
      }
    }
    // The access is recorded in the task's own record of this location when it has one (a
    // task's latest read, or the latest write when it was the task's): no object per access.
    let cur: Access | null = null;
    if (prior !== null) {
      cur = accessOf(t, ev, write, atomic, role);
      this.reportRace(ctx, ev, locationKey(ev), prior, cur, va, device);
    }
    if (write) {
      if (w !== null && w.task === t && cur === null) refill(w, t, ev, true, atomic, role);
      else s.write = cur ?? accessOf(t, ev, true, atomic, role);
      s.reads.length = 0;
      return;
    }
    const reads = s.reads;
    for (let i = 0; i < reads.length; i++) {
      const r = reads[i] as Access;
      if (r.task !== t) continue;
      if (cur === null) refill(r, t, ev, false, atomic, role);
      else reads[i] = cur;
      return;
    }
    reads.push(cur ?? accessOf(t, ev, false, atomic, role));
  }

  private reportRace(
    ctx: OracleContext,
    ev: DevPteEvent | SharedEvent | DmaEvent | SeqEvent | DevAccessEvent,
    key: string,
    prior: Access,
    cur: Access,
    va: number | null,
    device: Device | null,
  ): void {
    // Locks are named by their names: two objects of one name (a lock per range, made twice for one
    // range) look like one lock held on both sides.
    const shared = prior.held.filter((l) => cur.held.includes(l)).map((l) => `"${l.name}"`);
    const twins = [...new Set(prior.locks.filter((n) => cur.locks.includes(n) && !shared.includes(`"${n}"`)))].map((n) => `"${n}"`);
    const notes = [
      ...(shared.length > 0 ? [`${shared.join(', ')} held by both in shared (read) mode, which orders nothing`] : []),
      ...(twins.length > 0 ? [`${twins.join(', ')} ${twins.length === 1 ? 'names' : 'name'} two different locks, one taken by each`] : []),
    ];
    const common = notes.length === 0 ? 'no lock in common' : `no lock in common (${notes.join('; ')})`;
    const unordered = `${common} and nothing orders the two (unlock → lock, wake-up → wait, queue_work → work)`;
    ctx.report(
      {
        rule: 'data-race',
        explanation:
          prior.atomic && cur.atomic
            ? `${target(ev)}: ${describe(prior)}, and ${describe(cur)}; each update of the entry is atomic, but ${unordered}: the invalidation callback can run after the install was decided and before it is stored, and the install then maps a page the callback revoked (store the entry under the lock the callback takes, after mmu_interval_read_retry)`
            : `${target(ev)}: ${describe(prior)}, and ${describe(cur)}; ${unordered}, so on a real machine they can run at the same time`,
        va,
        device,
        context: cur.context ?? prior.context,
        dedupKey: `data-race:${key}`,
      },
      ev,
    );
  }
}

/** The access the running task `t` makes now. */
function accessOf(
  t: Task,
  ev: DevPteEvent | SharedEvent | DmaEvent | SeqEvent | DevAccessEvent,
  write: boolean,
  atomic: boolean,
  role: Role = ROLE_OTHER,
): Access {
  return {
    task: t,
    epoch: epochOf(t),
    step: ev.step,
    write,
    verb: verbOf(ev, write),
    atomic,
    role,
    locks: t.held.namesSnapshot(),
    held: t.held.heldSnapshot(),
    context: t.contexts[t.contexts.length - 1] ?? null,
  };
}

/** Makes `a` the access the running task `t` makes now, as {@link accessOf} would build it. */
function refill(a: Access, t: Task, ev: DevPteEvent | SharedEvent | SeqEvent, write: boolean, atomic: boolean, role: Role): void {
  a.epoch = epochOf(t);
  a.step = ev.step;
  a.write = write;
  a.verb = verbOf(ev, write);
  a.atomic = atomic;
  a.role = role;
  a.locks = t.held.namesSnapshot();
  a.held = t.held.heldSnapshot();
  a.context = t.contexts[t.contexts.length - 1] ?? null;
}

/** How a report names the location of an access that {@link RaceShadow.access} tracks (its dedup key). */
function locationKey(ev: DevPteEvent | SharedEvent | SeqEvent): string {
  if (ev.type === 'dev-pte') return pteKey(ev.vm, ev.va);
  if (ev.type === 'shared-access') return `s:${ev.obj}:${ev.key}`;
  return `seq:${ev.id}`;
}

/** The mark an invalidation callback's driver context ends with, before the invalidation's number. */
const INV_MARK = ', inv #';

/**
 * Whether `t` runs an invalidation callback of a notifier: its innermost driver context ends with
 * {@link INV_MARK} and a number (`/, inv #\d+$/`, without a regular expression on every entry change).
 */
function inInvalidationCallback(t: Task): boolean {
  const c = t.contexts[t.contexts.length - 1];
  if (c === undefined) return false;
  // A callback changes many entries under one context string: the answer of the last one is kept.
  if (c === lastContext) return lastInCallback;
  lastContext = c;
  lastInCallback = endsWithInvalidation(c);
  return lastInCallback;
}

/** The context {@link inInvalidationCallback} answered last, and its answer. */
let lastContext: string | undefined;
let lastInCallback = false;

function endsWithInvalidation(c: string): boolean {
  const i = c.lastIndexOf(INV_MARK);
  if (i < 0 || i + INV_MARK.length === c.length) return false;
  for (let j = i + INV_MARK.length; j < c.length; j++) {
    const d = c.charCodeAt(j);
    if (d < 48 || d > 57) return false;
  }
  return true;
}

/** True if `a` (another task's access) conflicts with an access by `t` now: not ordered before it, and not both atomic. */
function races(a: Access, t: Task, atomic: boolean, role: Role = ROLE_OTHER): boolean {
  if (a.task === t || (a.atomic && atomic && !installMeetsRevoke(a.role, role))) return false;
  return !happensBefore(a.task.id, a.epoch, t);
}

/** True for an install outside an invalidation callback and a change inside one, in either order. */
function installMeetsRevoke(a: Role, b: Role): boolean {
  return (a === ROLE_INSTALL && b === ROLE_REVOKE) || (a === ROLE_REVOKE && b === ROLE_INSTALL);
}

function verbOf(ev: DevPteEvent | SharedEvent | DmaEvent | SeqEvent | DevAccessEvent, write: boolean): string {
  if (ev.type === 'dma') return write ? 'unmaps' : 'maps';
  if (ev.type === 'dev-access') return ev.kind === 'read' ? 'copies from its page through it' : 'copies to its page through it';
  return write ? 'writes' : 'reads';
}

/** What an access touched, as a report names it. */
function target(ev: DevPteEvent | SharedEvent | DmaEvent | SeqEvent | DevAccessEvent): string {
  if (ev.type === 'set-seq' || ev.type === 'read-retry')
    return `the sequence of interval notifier "${ev.sub}" (mmu_interval_set_seq writes it, mmu_interval_read_retry reads it)`;
  if (ev.type === 'dev-pte') return `the ${ev.dev} device PTE of ${hex(ev.va)}`;
  if (ev.type === 'dev-access') return `the ${ev.dev} device PTE of ${hex(ev.va)}`;
  if (ev.type === 'dma') return `the ${ev.dev} DMA mappings of pfn ${hex(ev.pfn)}`;
  return ev.key === '' ? `shared state "${ev.name}"` : `shared state "${ev.name}"[${ev.key}]`;
}

function describe(a: Access): string {
  const locks = a.locks.length === 0 ? 'holding no lock' : `holding ${a.locks.join(', ')}`;
  const where = a.context !== null ? ` in ${a.context}` : '';
  return `${a.task.name}#${a.task.id} ${a.verb} it at step ${a.step}${where} ${locks}${a.atomic ? ' (atomically)' : ''}`;
}
