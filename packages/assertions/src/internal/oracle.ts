/**
 * The flush-contract oracle: watches a run's trace online, with the devices' state, and reports
 * every broken rule at the exact step it breaks.
 */
import {
  DriverCallbackError,
  eventName,
  HmmlabError,
  internalError,
  ProfileMismatchError,
  profileError,
  type RunResult,
  type TraceEvent,
} from '@hmmlab/core';
import type { Device, DeviceVm, Observer, World } from '@hmmlab/harness';
import { legalSkip, type OracleContext, type ViolationInput } from './context.js';
import { type CallbackSummary, formatOwner, type InvalidationInfo, type Violation } from './report.js';
import { RaceShadow } from './rules/data-race.js';
import { StuckFaults } from './rules/fault-stuck.js';
import { checkCpuAccess, checkDevAccess, GhostMemory, LayoutTracker, reportDiscardedWrite } from './rules/ghost-memory.js';
import { checkKernelFact } from './rules/kernel-facts.js';
import { checkLeaksAtExit, LifecycleShadow } from './rules/lifecycle.js';
import { checkPteChange, checkResume, coverAborted } from './rules/missed-flush.js';
import { checkCopy, checkDmaMap, checkFree, trackMigrationEntries } from './rules/page-lifetime.js';
import { SelfRetries } from './rules/self-retry.js';
import {
  coverCallbacks,
  coverDevAccess,
  coverDevPte,
  coverFolioSplit,
  coverInvalidationStart,
  coverMigratePair,
  coverPrivateFault,
  coverPte,
  newShapeState,
} from './rules/shape-windows.js';
import { checkInstall, trackFormerPage } from './rules/stale-install.js';
import { RULE_IDS, type RuleId } from './rules.js';
import { type ActiveInvalidation, emptyCounts, type FlushCounts, RecentEvents, translationKey } from './state.js';
import { StaleEntries } from './tlb-walk.js';
import { activeVms, cpuAllows } from './view.js';

/**
 * An event a report can carry across threads and into JSON: a range's owner (any object a driver
 * chose, which may reach the whole model) becomes its text, as reports print it.
 */
function plainEvent(e: TraceEvent): TraceEvent {
  return 'owner' in e && e.owner !== undefined && typeof e.owner !== 'string' ? { ...e, owner: formatOwner(e.owner) } : e;
}

/**
 * Coverage keys without their `cell|` or `window|` prefix, made once per process: a key sliced
 * anew every run is a fresh string, which every map of a campaign's coverage hashes again.
 */
const unprefixedKeys = new Map<string, string>();

function unprefixed(key: string, prefix: number): string {
  let k = unprefixedKeys.get(key);
  if (k === undefined) {
    k = key.slice(prefix);
    unprefixedKeys.set(key, k);
  }
  return k;
}

/** Every rule: what an oracle checks unless told otherwise (one set for all: an oracle is made per run). */
const ALL_RULES: ReadonlySet<RuleId> = new Set(RULE_IDS);

/** Every field of {@link OracleOptions} (the compiler checks it), for the check of option names. */
export const ORACLE_FIELDS = {
  stopOnFirst: true,
  maxViolations: true,
  traceWindow: true,
  verdictOnly: true,
  rules: true,
} as const satisfies Record<keyof OracleOptions, true>;

/**
 * Refuses bad oracle options. A function of the module, not one made at each check: run from
 * TypeScript sources (tsx, esbuild's keepNames), each function made gets its name set at run time,
 * and the oracle's options are checked at every run.
 */
function bad(what: string): never {
  throw new HmmlabError('ERR_BAD_ARGUMENT', `oracle options: ${what}`);
}

/**
 * Refuses oracle options that would make its verdict mean less than it says: a rule list that is
 * empty or names no rule (the oracle checked nothing, and the run passed), bounds that are not
 * positive integers, and a verdict-only flag that is no boolean.
 */
function checkOracleOptions(
  o: { maxViolations: number; traceWindow: number; verdictOnly: unknown },
  rules: readonly RuleId[] | undefined,
): void {
  if (rules !== undefined) {
    if (!Array.isArray(rules) || rules.length === 0) bad(`rules: expected at least one of ${RULE_IDS.join(', ')}`);
    for (const r of rules) if (!ALL_RULES.has(r)) bad(`rule ${JSON.stringify(r)}: expected one of ${RULE_IDS.join(', ')}`);
  }
  if (!(Number.isSafeInteger(o.maxViolations) && o.maxViolations >= 1))
    bad(`maxViolations ${String(o.maxViolations)}: expected an integer ≥ 1`);
  if (!(Number.isSafeInteger(o.traceWindow) && o.traceWindow >= 1)) bad(`traceWindow ${String(o.traceWindow)}: expected an integer ≥ 1`);
  if (typeof o.verdictOnly !== 'boolean') bad(`verdictOnly ${String(o.verdictOnly)}: expected true or false`);
}

/**
 * Reports a run-level rule once, at the last event of the run, naming `task` (the task that failed,
 * or the deadlock's task chosen by the caller): once the run ended, the running task is the setup task.
 */
function runRule(
  ctx: OracleContext,
  last: TraceEvent,
  rule: RuleId,
  explanation: string,
  context: string | null,
  task: { readonly name: string; readonly id: number } | null | undefined,
): void {
  ctx.report({ rule, explanation, context, dedupKey: `run:${rule}`, task: task ?? null }, last);
}

/** Options of a {@link FlushOracle}. */
export interface OracleOptions {
  /** Stop the run at the first violation. @defaultValue false */
  readonly stopOnFirst?: boolean;
  /** Stop recording after this many violations. @defaultValue 50 */
  readonly maxViolations?: number;
  /**
   * Entries of trace kept in each report: events other than scheduler switches, a run of the same
   * bulk work (a THP's 512 entry changes) counting as two, its first and last event
   * (`Violation.elided`). @defaultValue 40
   */
  readonly traceWindow?: number;
  /**
   * For runs whose verdict alone is read, as the runs a campaign scans and shrinks (what it shows
   * of a failure comes from a replay of the run without this option). The verdict, and each
   * violation's rule, are the same; the reports keep no trace window (`trace` is empty), and their
   * explanations leave out what only the history of a page tells (when a CPU entry stopped
   * mapping it, when it was freed). The oracle then keeps neither, and does without the trace's
   * `lock` and `page-alloc` events, which no rule reads: the model makes none. @defaultValue false
   */
  readonly verdictOnly?: boolean;
  /** Rules to check. @defaultValue every rule */
  readonly rules?: readonly RuleId[];
}

/** Flush metrics of a run. */
export interface FlushMetrics {
  /** Over the whole run. */
  readonly total: FlushCounts;
  /** Per invalidation event (`MMU_NOTIFY_UNMAP`, …). */
  readonly byEvent: Readonly<Record<string, FlushCounts>>;
}

/**
 * What a run exercised: coverage cells and race windows, with how often each was reached. The
 * oracle's records have no prototype (`Object.create(null)`), their keys in order: test a key with
 * `in` or `Object.hasOwn`.
 */
export interface Coverage {
  /**
   * `event|owner match|page kind|blockable|device state|race window|callback outcome` → count. The
   * race window is `fault` when a device fault was in flight as the invalidation started, else
   * `quiet`; the outcome is what the device's notifier callbacks did: `skip`, `set-seq` (only),
   * `zap` (device entries cleared, no TLB flush), `flush`, or `fail` (a callback refused).
   */
  readonly cells: Readonly<Record<string, number>>;
  /** Race window → count. */
  readonly windows: Readonly<Record<string, number>>;
}

/** The oracle's verdict on a run. */
export interface OracleReport {
  /** `fail` if any rule broke. */
  readonly verdict: 'pass' | 'fail';
  /** Every broken rule, in the order they broke. */
  readonly violations: readonly Violation[];
  /** Device flushes issued and needed. */
  readonly metrics: FlushMetrics;
  /** What the run exercised. */
  readonly coverage: Coverage;
  /**
   * How the run ended.
   * @prop __type.status - how the scheduler's run ended (`RunResult.status`)
   * @prop __type.steps - scheduler steps taken
   * @prop __type.message - what ended the run (an error's message), or ''
   * @prop __type.decisions - the scheduling decisions, which replay the run
   */
  readonly run: { readonly status: string; readonly steps: number; readonly message: string; readonly decisions: readonly number[] };
}

/** What an invalidation's start records of one address space: its translations of `[first, last)`. */
interface HeldSearch {
  readonly first: number;
  readonly last: number;
  readonly vm: DeviceVm;
  readonly before: ActiveInvalidation['before'];
}

/**
 * Records a translation held when an invalidation starts, unless one of its page was recorded
 * already (a `forEach` callback with the search as `this`: no entry pair or callback per entry).
 */
function holdEntry(this: HeldSearch, entry: number, vpn: number): void {
  if (vpn < this.first || vpn >= this.last) return;
  const key = translationKey(this.vm.id, vpn);
  if (!this.before.has(key)) this.before.set(key, { vmId: this.vm.id, vpn, entry, device: this.vm.device.name });
}

/** The flush-contract oracle. Attach it to a run as an {@link Observer}, then call {@link FlushOracle.finish}. */

/** True if `e` completes a TLB flush whose fence the callbacks of `inv` issued. */
function issuedFence(inv: ActiveInvalidation, e: TraceEvent): boolean {
  if (e.type !== 'dev-tlb' || e.op !== 'flush-complete' || e.fence === 0) return false;
  for (const x of inv.callbackEvents)
    if (x.type === 'dev-tlb' && x.op === 'flush-issue' && x.fence === e.fence && x.dev === e.dev) return true;
  return false;
}
/** The trace of a report made without a trace window (`verdictOnly`). */
const NO_WINDOW: ReturnType<RecentEvents['list']> = { events: [], elided: [] };

export class FlushOracle implements Observer {
  /** The violations found so far. */
  readonly violations: Violation[] = [];
  private world: World | null = null;
  private readonly options: Required<Omit<OracleOptions, 'rules'>>;
  private readonly enabled: ReadonlySet<RuleId>;
  /** The trace window, or null for a verdict-only oracle. */
  private readonly recent: RecentEvents | null;
  /** The last event of the run the oracle saw (the anchor of run-level reports). */
  private lastSeen: TraceEvent | undefined;
  /** Made anew with the kernel's page size by {@link FlushOracle.attach}. */
  private ghost = new GhostMemory(4096, 4);
  private layout: LayoutTracker | null = null;
  private readonly byEvent = new Map<number, FlushCounts>();
  private readonly cells = new Map<string, number>();
  private readonly reported = new Set<string>();
  private faultsInFlight = 0;
  private ctx: OracleContext | null = null;
  private races: RaceShadow | null = null;
  private selfRetries: SelfRetries | null = null;
  private stuckFaults: StuckFaults | null = null;
  private readonly lifecycle = new LifecycleShadow();

  constructor(options: OracleOptions = {}) {
    this.options = {
      stopOnFirst: options.stopOnFirst ?? false,
      maxViolations: options.maxViolations ?? 50,
      traceWindow: options.traceWindow ?? 40,
      verdictOnly: options.verdictOnly ?? false,
    };
    checkOracleOptions(this.options, options.rules);
    this.enabled = options.rules === undefined ? ALL_RULES : new Set(options.rules);
    this.recent = this.options.verdictOnly ? null : new RecentEvents(this.options.traceWindow);
  }

  /** Observer hook: subscribes to the kernel's trace. */
  attach(world: World): void {
    this.world = world;
    this.lastSeen = undefined;
    this.ghost = new GhostMemory(world.kernel.pageSize, world.kernel.wordSize);
    this.layout = new LayoutTracker(this.ghost, world.kernel.pageSize);
    const oracle = this;
    const ctx: OracleContext = {
      world,
      invs: new Map(),
      skipped: new Map(),
      copiedOut: new Map(),
      pairs: new Map(),
      migrating: new Map(),
      freedAt: new Map(),
      explain: !this.options.verdictOnly,
      formerPage: new Map(),
      lostWrite: new Map(),
      stale: new StaleEntries(),
      shapes: newShapeState(),
      // Methods, not arrow functions: run from TypeScript sources (tsx, esbuild's keepNames), every
      // arrow function stored in a property gets its name set by a defineProperty call, run after run.
      report(v, at) {
        oracle.report(v, at);
      },
      counts(ev) {
        return oracle.counts(ev);
      },
      cover(key) {
        oracle.cover(key);
      },
      invalidationInfo(inv, dev) {
        return oracle.invalidationInfo(inv, dev);
      },
    };
    this.ctx = ctx;
    if (this.enabled.has('livelock')) this.selfRetries = new SelfRetries();
    if (this.enabled.has('fault-stuck')) this.stuckFaults = new StuckFaults();
    if (this.enabled.has('data-race')) {
      this.races = new RaceShadow();
      world.kernel.sched.trackHappensBefore();
    }
    // No rule reads scheduler switches, and the reports' trace windows leave them out; only the
    // windows show lock events, and page allocations only tell explanations when a page stopped
    // being free. Events after the run ended come from code going on to its next wait on a
    // stopped machine (after a violation stopped the run, or past a wait it did not await, which
    // ended it): not the run's.
    const sched = world.kernel.sched;
    world.kernel.trace.subscribe(
      (e) => {
        if (sched.hasEnded) return;
        this.lastSeen = e;
        this.onEvent(ctx, e);
      },
      { switches: false, locks: ctx.explain, allocs: ctx.explain },
    );
  }

  private counts(event: number): FlushCounts {
    let c = this.byEvent.get(event);
    if (c === undefined) {
      c = emptyCounts();
      this.byEvent.set(event, c);
    }
    return c;
  }

  private cover(key: string): void {
    this.cells.set(key, (this.cells.get(key) ?? 0) + 1);
  }

  /** Keeps what the device's page-table walker may have cached (tlb-walk.ts) in step with entry changes and completed flushes. */
  private walked(ctx: OracleContext, e: Extract<TraceEvent, { type: 'dev-pte' | 'dev-tlb' }>): void {
    if (e.type === 'dev-tlb' && e.op !== 'flush-complete') return;
    const vm = ctx.world.devices.find((d) => d.name === e.dev)?.vms.find((v) => v.id === e.vm);
    if (vm === undefined) return;
    if (e.type === 'dev-pte') ctx.stale.entryLeft(vm, Math.floor(e.va / ctx.world.kernel.pageSize), e.old, e.new, e.step);
    else ctx.stale.flushCompleted(vm, e.start, e.end);
  }

  private onEvent(ctx: OracleContext, e: TraceEvent): void {
    this.recent?.push(e);
    switch (e.type) {
      case 'inv-start':
        this.selfRetries?.onInvStart(e);
        this.startInvalidation(ctx, e);
        coverInvalidationStart(ctx, e);
        if (this.faultsInFlight > 0) this.cover('window|invalidation-during-device-fault');
        return;
      case 'inv-started':
        this.endCallbackPhase(ctx, e.inv);
        return;
      case 'inv-end':
        if (e.aborted) coverAborted(ctx, e.inv);
        this.endInvalidation(ctx, e.inv);
        return;
      case 'inv-callback':
        this.recordCallbackEvent(ctx, e);
        if (e.op === 'release' && e.phase === 'return') this.lifecycle.releaseRan = true;
        return;
      case 'set-seq':
        this.recordCallbackEvent(ctx, e);
        this.races?.onSeq(ctx, e);
        this.selfRetries?.onSetSeq(e);
        return;
      case 'read-retry':
        this.races?.onSeq(ctx, e);
        this.selfRetries?.onReadRetry(ctx, e);
        return;
      case 'pte': {
        // Always: besides missed-flush, it counts flushes and records legal skips for own-migration-unrevoked.
        if (e.inv >= 0) checkPteChange(ctx, e);
        coverPte(ctx, e);
        trackMigrationEntries(ctx, e);
        if (ctx.explain) trackFormerPage(ctx, e);
        const discarded = this.layout?.onEvent(e) ?? null;
        if (discarded !== null) reportDiscardedWrite(ctx, e, discarded);
        return;
      }
      case 'dev-pte':
        this.recordCallbackEvent(ctx, e);
        // Always: it also records installs under a legal skip, for own-migration-unrevoked.
        checkInstall(ctx, e);
        coverDevPte(ctx, e);
        this.races?.onDevPte(ctx, e);
        this.walked(ctx, e);
        return;
      case 'shared-access':
        this.races?.onShared(ctx, e);
        return;
      case 'dev-tlb':
        if (e.op !== 'fill') this.recordCallbackEvent(ctx, e);
        this.walked(ctx, e);
        return;
      case 'dev-vm':
        this.lifecycle.onVmEvent(ctx, e);
        return;
      case 'dev-queue':
        if (this.enabled.has('missed-flush')) checkResume(ctx, e);
        return;
      case 'dev-fault':
        this.faultsInFlight += e.phase === 'begin' ? 1 : e.fatal ? 0 : -1;
        this.selfRetries?.onFault(e.task);
        this.stuckFaults?.onFault(e);
        return;
      case 'dev-retry':
        // The liveness check of fault-stuck ran: a campaign without it never tried a failed access again.
        if (e.phase === 'begin') this.cover('window|device-fault-retried-at-rest');
        this.stuckFaults?.onRetry(ctx, e);
        return;
      case 'page-copy':
        checkCopy(ctx, e);
        return;
      case 'page-free':
        checkFree(ctx, e);
        return;
      case 'page-alloc':
        if (ctx.explain) ctx.freedAt.delete(e.pfn);
        return;
      case 'dma':
        checkDmaMap(ctx, e);
        this.races?.onDma(ctx, e);
        return;
      case 'migrate-pair':
        ctx.pairs.set(e.dst, { src: e.src, owner: e.owner });
        coverMigratePair(ctx, e);
        return;
      case 'folio-split':
        coverFolioSplit(ctx, e);
        return;
      case 'private-fault':
        coverPrivateFault(ctx, e);
        this.lifecycle.onPrivateFault(ctx, e);
        return;
      case 'cpu-access':
        checkCpuAccess(ctx, this.ghost, e);
        return;
      case 'dev-access':
        checkDevAccess(ctx, this.ghost, e);
        coverDevAccess(ctx, e);
        if (e.driver === true) this.races?.onMappedAccess(ctx, e);
        return;
      case 'fork':
        this.layout?.onEvent(e);
        return;
      case 'sleep-in-atomic':
      case 'lock-leak':
      case 'warn':
        checkKernelFact(ctx, e);
        return;
      default:
        return;
    }
  }

  private startInvalidation(ctx: OracleContext, e: Extract<TraceEvent, { type: 'inv-start' }>): void {
    const world = this.world as World;
    const ps = world.kernel.pageSize;
    const inv: ActiveInvalidation = {
      id: e.inv,
      mm: e.mm,
      event: e.event,
      start: e.start,
      end: e.end,
      owner: e.owner,
      blockable: e.blockable,
      duringFault: this.faultsInFlight > 0,
      task: e.task,
      started: false,
      callbackEvents: [],
      before: new Map(),
      needed: new Set(),
      outcomes: new Map(),
      pteCells: new Map(),
    };
    const first = Math.floor(e.start / ps);
    const last = Math.ceil(e.end / ps);
    for (const vm of activeVms(world, e.mm)) {
      // Page table first, then TLB, then the walk cache's freed tables: the first entry of a page wins.
      const held: HeldSearch = { first, last, vm, before: inv.before };
      vm.pt.forEach(holdEntry, held);
      vm.tlb.forEach(holdEntry, held);
      // A page in several freed tables: the last one's entry, as a map of them keeps it.
      if (vm.walk.size > 0) new Map(vm.freedTableEntries()).forEach(holdEntry, held);
    }
    ctx.invs.set(e.inv, inv);
  }

  /**
   * Files an event of the callback phase with the invalidations whose callbacks may have caused it.
   * With one invalidation in its callback phase, every such event is its own (a flush its callback
   * issued may complete in a device task). With several at once (two tasks invalidating), an event
   * belongs to the invalidation of the task that emitted it, and a flush completed elsewhere to the
   * one whose callbacks issued its fence.
   */
  private recordCallbackEvent(ctx: OracleContext, e: TraceEvent): void {
    let open = 0;
    for (const inv of ctx.invs.values()) if (!inv.started) open++;
    for (const inv of ctx.invs.values()) {
      if (inv.started) continue;
      if (e.type === 'inv-callback' && e.inv !== inv.id) continue;
      if (open > 1 && e.task !== inv.task && !issuedFence(inv, e)) continue;
      inv.callbackEvents.push(e);
    }
  }

  private stillTranslated(vmId: number, vpn: number): boolean {
    for (const d of (this.world as World).devices) {
      for (const vm of d.vms)
        if (vm.id === vmId)
          return vm.pt.has(vpn) || vm.tlb.has(vpn) || (vm.walk.size > 0 && vm.translations(vpn * vm.mm.kernel.pageSize).length > 0);
    }
    return false;
  }

  private endCallbackPhase(ctx: OracleContext, id: number): void {
    const inv = ctx.invs.get(id);
    if (inv === undefined) return;
    inv.started = true;
    coverCallbacks(ctx, inv);
    const c = this.counts(inv.event);
    for (const b of inv.before.values()) if (!this.stillTranslated(b.vmId, b.vpn)) c.performed++;
  }

  private endInvalidation(ctx: OracleContext, id: number): void {
    const inv = ctx.invs.get(id);
    ctx.invs.delete(id);
    if (inv === undefined) return;
    const world = this.world as World;
    const c = this.counts(inv.event);
    for (const [key, b] of inv.before) {
      if (this.stillTranslated(b.vmId, b.vpn)) continue;
      // Counted when the entry changed (kept then: missed or legally skipped).
      if (inv.needed.has(key)) continue;
      const dev = world.devices.find((d) => d.name === b.device) as Device;
      const vm = dev.vms.find((v) => v.id === b.vmId);
      const pte = vm === undefined ? 0 : vm.mm.pte(b.vpn * world.kernel.pageSize);
      // Removed during this invalidation: needed if the new CPU entry no longer allows it; otherwise
      // (the entry still allows it, or the skip would have been legal) a flush that was not needed.
      if (cpuAllows(world.kernel, pte, b.entry, dev) || legalSkip(inv, dev)) c.unnecessary++;
      else c.needed++;
    }
  }

  private invalidationInfo(inv: ActiveInvalidation, dev: Device | null): InvalidationInfo {
    return {
      id: inv.id,
      event: eventName(inv.event),
      start: inv.start,
      end: inv.end,
      owner: formatOwner(inv.owner),
      ownOwner: dev !== null && inv.owner !== undefined && inv.owner === dev.owner,
      blockable: inv.blockable,
      mm: inv.mm,
    };
  }

  private callbackSummaries(inv: ActiveInvalidation): CallbackSummary[] {
    const out: { sub: string; op: string; result: string; setSeq: boolean; cleared: string[]; flushes: string[] }[] = [];
    let cur: (typeof out)[number] | null = null;
    for (const e of inv.callbackEvents) {
      if (e.type === 'inv-callback') {
        if (e.phase === 'enter') {
          cur = { sub: e.sub, op: e.op, result: '(did not return)', setSeq: false, cleared: [], flushes: [] };
          out.push(cur);
        } else if (cur !== null) {
          cur.result = String(e.result);
        }
      } else if (cur !== null) {
        if (e.type === 'set-seq') cur.setSeq = true;
        else if (e.type === 'dev-pte' && e.new === 0) cur.cleared.push(`${e.dev} 0x${e.va.toString(16)}`);
        else if (e.type === 'dev-pte' && e.old !== 0) cur.cleared.push(`${e.dev} 0x${e.va.toString(16)} (changed, not cleared)`);
        else if (e.type === 'dev-tlb') cur.flushes.push(`${e.dev} ${e.op} [0x${e.start.toString(16)}, 0x${e.end.toString(16)})`);
      }
    }
    return out;
  }

  private report(v: ViolationInput, at: TraceEvent): void {
    if (!this.enabled.has(v.rule) || this.violations.length >= this.options.maxViolations) return;
    const key = v.dedupKey ?? `${v.rule}:${v.device?.name ?? ''}:${v.va ?? ''}:${v.pfn ?? ''}`;
    if (this.reported.has(key)) return;
    const world = this.world as World;
    const k = world.kernel;
    // Code of another task than the running one, going on past a wait it did not await: what it
    // did would be blamed on the running task. The run ends with that error instead (callback-threw).
    if (v.task === undefined && k.sched.strayCode(`a ${at.type} event at step ${at.step}`)) return;
    this.reported.add(key);
    const task = v.task ?? k.sched.current;
    const page = v.pfn === null || v.pfn === undefined ? null : k.pages.pfnToPage(v.pfn);
    const inv = v.inv ?? null;
    const recent = this.recent?.list() ?? NO_WINDOW;
    this.violations.push({
      rule: v.rule,
      explanation: v.explanation,
      step: at.step,
      seq: at.seq,
      task: `${task.name}#${task.id}`,
      mm: v.mm ?? null,
      va: v.va ?? null,
      page: page === null || page === undefined ? null : { pfn: page.pfn, kind: page.kind },
      device: v.device?.name ?? null,
      invalidation: inv === null ? null : this.invalidationInfo(inv, v.device ?? null),
      callbacks: inv === null ? [] : this.callbackSummaries(inv),
      translations: v.translations ?? [],
      context: v.context ?? null,
      trace: recent.events.map(plainEvent),
      ...(recent.elided.length > 0 ? { elided: recent.elided } : {}),
    });
    if (this.options.stopOnFirst) k.sched.requestStop(`${v.rule}: ${v.explanation}`);
  }

  /** Metrics so far. */
  metrics(): FlushMetrics {
    const total = emptyCounts();
    const byEvent: Record<string, FlushCounts> = {};
    for (const [ev, c] of [...this.byEvent].sort((a, b) => a[0] - b[0])) {
      byEvent[eventName(ev)] = { ...c };
      total.needed += c.needed;
      total.performed += c.performed;
      total.missed += c.missed;
      total.unnecessary += c.unnecessary;
      total.legalSkips += c.legalSkips;
    }
    return { total, byEvent };
  }

  /** Coverage so far. */
  coverage(): Coverage {
    // Records without a prototype: V8 makes them as dictionaries at once. An ordinary `{}` grows a
    // hidden class per key, and cell keys vary from run to run: building the two records took
    // twice as long (8 µs a run on amdkfd-style, for three or four keys).
    const cells: Record<string, number> = Object.create(null);
    const windows: Record<string, number> = Object.create(null);
    // In key order (the default sort's order of UTF-16 code units, the `<` of strings).
    for (const key of [...this.cells.keys()].sort()) {
      const n = this.cells.get(key) as number;
      if (key.startsWith('cell|')) cells[unprefixed(key, 5)] = n;
      else windows[unprefixed(key, 7)] = n;
    }
    return { cells, windows };
  }

  /** Adds the run-level rules (deadlock, livelock, driver failures) and returns the verdict. */
  finish(run: RunResult): OracleReport {
    const k = (this.world as World).kernel;
    // The run's last event the oracle saw: code still running once the run ended emits more, which are no events of the run.
    const last = this.lastSeen ?? ({ type: 'warn', what: '', detail: '', seq: k.trace.length, step: run.steps, task: -1 } as TraceEvent);
    const ctx = this.ctx as OracleContext;
    switch (run.status) {
      case 'deadlock': {
        // Named after a blocked task that holds what another blocked task waits for, else the first.
        const named =
          run.deadlock.find((d) => run.deadlock.some((o) => o !== d && o.heldBy.some((h) => h.id === d.task.id))) ?? run.deadlock[0];
        runRule(ctx, last, 'deadlock', run.message, named?.context ?? null, named?.task);
        break;
      }
      case 'step-limit':
        // Named after the last task to run: a loop that only yields leaves no trace of its own.
        ctx.report(
          { rule: 'livelock', explanation: run.message, context: run.failedContext, dedupKey: 'run:livelock', task: run.failedTask },
          last,
        );
        break;
      case 'hung':
        runRule(ctx, last, 'callback-hung', run.message, run.failedContext, run.failedTask);
        break;
      case 'error': {
        // The model broke its own state: a bug of hmmlab, not of the driver, and the run has no verdict.
        if (internalError(run.error) !== null)
          throw new HmmlabError('ERR_INTERNAL', `${run.message} (at step ${run.steps}; please report it)`);
        // A call the kernel profile lacks would not compile against that kernel: no verdict either.
        const lacked = profileError(run.error);
        if (lacked !== null) {
          const who = run.failedTask === null ? '' : ` (task ${run.failedTask.name}#${run.failedTask.id} at step ${run.steps})`;
          throw new ProfileMismatchError(`${lacked.message}${who}: the driver is not written for this kernel profile`);
        }
        runRule(
          ctx,
          last,
          'callback-threw',
          run.error instanceof DriverCallbackError ? run.error.message : run.message,
          run.failedContext,
          run.failedTask,
        );
        break;
      }
      case 'done':
        checkLeaksAtExit(ctx, last, this.lifecycle.releaseRan);
        break;
      default:
        break;
    }
    return {
      verdict: this.violations.length === 0 ? 'pass' : 'fail',
      violations: this.violations,
      metrics: this.metrics(),
      coverage: this.coverage(),
      run: { status: run.status, steps: run.steps, message: run.message, decisions: run.decisions },
    };
  }
}
