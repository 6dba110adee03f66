/**
 * Violation reports: what a reviewer needs to fix the driver without rerunning anything: the rule
 * and why, the step, the address and page, the invalidation, what the callbacks did, the
 * translations still reachable, and the trace around the step. Text for terminals, JSON for tools.
 */
import { errnoName, eventName, formatPte, hex, type TraceEvent } from '@hmmlab/core';
import { formatDevPte } from '@hmmlab/harness';
import { RULES, type RuleId } from './rules.js';
import type { ElidedEvents } from './state.js';

/** An invalidation as a report shows it. */
export interface InvalidationInfo {
  /** The invalidation's id, unique in the run. */
  readonly id: number;
  /** The `MMU_NOTIFY_*` event, by name. */
  readonly event: string;
  /** First address (inclusive). */
  readonly start: number;
  /** End address (exclusive). */
  readonly end: number;
  /** The owner the range carried, as text (`none` when it carried none). */
  readonly owner: string;
  /** True if that owner is the device's own. */
  readonly ownOwner: boolean;
  /** Whether callbacks could sleep (`MMU_NOTIFIER_RANGE_BLOCKABLE`). */
  readonly blockable: boolean;
  /** Id of the address space. */
  readonly mm: number;
}

/** One notifier callback of the invalidation and what it did. */
export interface CallbackSummary {
  /** The subscription's name. */
  readonly sub: string;
  /** The callback (`invalidate`, `invalidate-range-start`, …). */
  readonly op: string;
  /** What it returned, as text. */
  readonly result: string;
  /** Whether it called `mmu_interval_set_seq`. */
  readonly setSeq: boolean;
  /** Device entries cleared while it ran (device, va), and entries it changed without clearing them. */
  readonly cleared: readonly string[];
  /** TLB flushes it issued or completed. */
  readonly flushes: readonly string[];
}

/** A translation a device still held. */
export interface TranslationInfo {
  /** The device's name. */
  readonly device: string;
  /** The device address space's id. */
  readonly vm: number;
  /** Where the translation was: the TLB, a freed page-table page the walk cache still reaches, the page table, or a DMA mapping. */
  readonly source: 'tlb' | 'walk' | 'pt' | 'dma';
  /** The virtual address (null for a DMA mapping). */
  readonly va: number | null;
  /** The entry, formatted. */
  readonly entry: string;
}

/** One broken rule. */
export interface Violation {
  /** The rule broken. */
  readonly rule: RuleId;
  /** One line: what broke, concretely. */
  readonly explanation: string;
  /** The scheduler step at which it broke. */
  readonly step: number;
  /** Sequence number of the trace event where it broke. */
  readonly seq: number;
  /** The task that was running. */
  readonly task: string;
  /** Id of the address space, if the rule concerns one. */
  readonly mm: number | null;
  /** The virtual address, if the rule concerns one. */
  readonly va: number | null;
  /** The page, if the rule concerns one: its `pfn` and its kind. */
  readonly page: { readonly pfn: number; readonly kind: string } | null;
  /** The device, if the rule concerns one. */
  readonly device: string | null;
  /** The invalidation in progress, if any. */
  readonly invalidation: InvalidationInfo | null;
  /** What each notifier callback of that invalidation did. */
  readonly callbacks: readonly CallbackSummary[];
  /** The translations devices still held. */
  readonly translations: readonly TranslationInfo[];
  /** The driver callback involved, for driver failures. */
  readonly context: string | null;
  /**
   * Events before (and at) the step: the last entries of the trace (40 by default, scheduler
   * switches left out), where a run of the same bulk work (a THP's 512 entry changes) keeps its
   * first and last event; `elided` says how many were left out between them.
   */
  readonly trace: readonly TraceEvent[];
  /** The runs of like events left out of `trace` (absent: none). */
  readonly elided?: readonly ElidedEvents[];
}

function owner(o: unknown): string {
  if (o === undefined || o === null) return 'none';
  if (typeof o === 'object') {
    const dev = (o as { device?: unknown }).device;
    if (typeof dev === 'string') return `owner of ${dev}`;
    const name = (o as { name?: unknown }).name;
    if (typeof name === 'string') return name;
    // A driver's device structure that holds its model device (test_hmm's `dmirror_device`).
    const devName = typeof dev === 'object' && dev !== null ? (dev as { name?: unknown }).name : undefined;
    if (typeof devName === 'string') return `owner of ${devName}`;
    const ctor = (o as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof ctor === 'string' && ctor !== '' && ctor !== 'Object' ? `a ${ctor}` : 'object';
  }
  return String(o);
}

/** Formats an owner value for reports. */
export function formatOwner(o: unknown): string {
  return owner(o);
}

/** One trace event as a line of text. */
export function formatEvent(e: TraceEvent): string {
  switch (e.type) {
    case 'inv-start':
      return `inv #${e.inv} start ${eventName(e.event)} [${hex(e.start)}, ${hex(e.end)}) owner=${owner(e.owner)} ${e.blockable ? 'blockable' : 'NON-BLOCKABLE'} (mm ${e.mm})`;
    case 'inv-started':
      return `inv #${e.inv}: start callbacks returned; entries may change now`;
    case 'inv-end':
      return `inv #${e.inv} ${e.aborted ? 'aborted (-EAGAIN)' : 'end'}`;
    case 'inv-callback':
      return `  ${e.sub} ${e.op} ${e.phase === 'enter' ? 'called' : `returned ${String(e.result)}${e.leaked.length > 0 ? ` holding ${e.leaked.join(', ')}` : ''}`}`;
    case 'set-seq':
      return `  ${e.sub}: mmu_interval_set_seq(${e.curSeq})`;
    case 'read-retry':
      return `${e.sub}: mmu_interval_${e.atomic ? 'check' : 'read'}_retry(${e.readSeq})`;
    case 'pte':
      return `cpu pte ${hex(e.va)} (mm ${e.mm}): ${formatPte(e.old)} -> ${formatPte(e.new)} [${e.why}${e.inv >= 0 ? `, inv #${e.inv}` : ''}]`;
    case 'dev-pte':
      return `${e.dev} pte ${hex(e.va)}: ${formatDevPte(e.old)} -> ${formatDevPte(e.new)} [${e.why}]`;
    case 'dev-tlb':
      return e.op === 'fill'
        ? `${e.dev} tlb fill ${hex(e.start)} = ${formatDevPte(e.entry)}`
        : `${e.dev} tlb ${e.op} [${hex(e.start)}, ${hex(e.end)})${e.fence > 0 ? ` fence ${e.fence}` : ''}`;
    case 'dev-access':
      return `${e.dev} ${e.kind} ${hex(e.va)} = ${e.value} (pfn ${e.pfn}, via ${e.via})`;
    case 'private-fault':
      return `cpu fault on device page pfn ${e.pfn} at ${hex(e.va)} (mm ${e.mm}) ${e.phase === 'begin' ? 'begins' : 'ends'}`;
    case 'dev-fault':
      return `${e.dev} fault ${e.kind} ${hex(e.va)} ${e.phase}${e.phase === 'end' ? ` -> ${e.result}${e.fatal ? ' (fatal)' : ''}` : ''}`;
    case 'dev-retry':
      return `${e.dev} ${e.kind} ${hex(e.va)} retried at rest (failed ${errnoName(e.errno)} at step ${e.failedAt}) ${e.phase}${e.phase === 'end' ? ` -> ${e.result === 0 ? 'ok' : errnoName(e.result)}` : ''}`;
    case 'dev-queue':
      return `${e.dev} queues ${e.op}`;
    case 'dev-vm':
      return `${e.dev} vm ${e.vm} ${e.op}${e.op === 'use-after-free' || e.op === 'destroy' ? `: ${e.what}` : ''}`;
    case 'dma':
      return `${e.dev} dma ${e.op} pfn ${e.pfn}`;
    case 'cpu-access':
      return `cpu ${e.write ? 'write' : 'read'} ${hex(e.va)} = ${e.value} (pfn ${e.pfn}, mm ${e.mm})`;
    case 'page-alloc':
      return `alloc pfn ${e.pfn} (${e.kind})`;
    case 'page-free':
      return `free pfn ${e.pfn}`;
    case 'page-copy':
      return `copy pfn ${e.src} -> pfn ${e.dst} by ${e.by}`;
    case 'migrate-pair':
      return `migrate pfn ${e.src} -> pfn ${e.dst}`;
    case 'folio-split':
      return `split folio pfn ${e.pfn} (order ${e.order})`;
    case 'lock':
      return `lock ${e.lock} ${e.op}${e.mode === 'excl' ? '' : ` (${e.mode})`}`;
    case 'switch':
      return `run task #${e.to}`;
    case 'task-spawn':
      return `spawn ${e.name}#${e.id} (${e.kind})`;
    case 'task-exit':
      return `task #${e.id} ${e.outcome}${e.detail !== '' ? `: ${e.detail}` : ''}`;
    case 'vma':
      return `${e.op} [${hex(e.start)}, ${hex(e.end)}) mm ${e.mm} ${e.detail}`;
    case 'fork':
      return `fork mm ${e.parent} -> mm ${e.child}`;
    case 'mremap':
      return `mremap mm ${e.mm} [${hex(e.from)}, +${hex(e.len)}) -> ${hex(e.to)}`;
    case 'warn':
      return `WARN ${e.what}: ${e.detail}`;
    case 'sleep-in-atomic':
      return `sleeping ${e.what} in non-blockable ${e.context}`;
    case 'lock-leak':
      return `${e.context} returned holding ${e.locks.join(', ')}`;
    case 'shared-access':
      return `${e.write ? 'write' : 'read'} shared "${e.name}"${e.key === '' ? '' : `[${e.key}]`}${e.atomic ? ' (atomic)' : ''}`;
    default:
      return (e as { type: string }).type;
  }
}

/** A violation as text, for terminals. */
export function formatViolation(v: Violation): string {
  const lines: string[] = [];
  lines.push(`✗ ${v.rule}: ${v.explanation}`);
  lines.push(`  rule: ${RULES[v.rule].holds}`);
  const where: string[] = [`step ${v.step}`, `task ${v.task}`];
  if (v.mm !== null) where.push(`mm ${v.mm}`);
  if (v.va !== null) where.push(`va ${hex(v.va)}`);
  if (v.page !== null) where.push(`page pfn ${v.page.pfn} (${v.page.kind})`);
  if (v.device !== null) where.push(`device ${v.device}`);
  lines.push(`  at: ${where.join(', ')}`);
  if (v.context !== null) lines.push(`  in: ${v.context}`);
  const inv = v.invalidation;
  if (inv !== null) {
    lines.push(
      `  invalidation #${inv.id}: ${inv.event} [${hex(inv.start)}, ${hex(inv.end)}) owner=${inv.owner}${inv.ownOwner ? " (the device's own)" : ''} ${inv.blockable ? 'blockable' : 'non-blockable'}`,
    );
  }
  if (v.callbacks.length > 0) {
    lines.push('  callbacks:');
    for (const c of v.callbacks) {
      // An entry the callback changed without clearing it (write-protected) is listed apart.
      const CHANGED = ' (changed, not cleared)';
      const cleared = c.cleared.filter((x) => !x.endsWith(CHANGED));
      const changed = c.cleared.filter((x) => x.endsWith(CHANGED)).map((x) => x.slice(0, -CHANGED.length));
      const did = [
        c.setSeq ? 'set_seq' : 'no set_seq',
        cleared.length > 0 ? `cleared ${cleared.join(', ')}` : 'cleared nothing',
        ...(changed.length > 0 ? [`changed without clearing ${changed.join(', ')}`] : []),
        c.flushes.length > 0 ? `flushed ${c.flushes.join(', ')}` : 'no flush',
      ];
      lines.push(`    ${c.sub} ${c.op} → ${c.result}: ${did.join('; ')}`);
    }
  }
  if (v.translations.length > 0) {
    lines.push('  still reachable:');
    for (const t of v.translations)
      lines.push(`    ${t.device} vm ${t.vm} ${t.source}${t.va !== null ? ` ${hex(t.va)}` : ''} → ${t.entry}`);
  }
  if (v.trace.length > 0) {
    lines.push('  trace:');
    const left = new Map((v.elided ?? []).map((g) => [g.before, g.count]));
    for (const e of v.trace) {
      const n = left.get(e.seq);
      if (n !== undefined) lines.push(`                … ${n} more like these`);
      lines.push(`    ${String(e.step).padStart(5)} ${e.seq === v.seq ? '▶' : ' '} ${formatEvent(e)}`);
    }
  }
  return lines.join('\n');
}

/** A violation as plain JSON (bigint-free, no class instances, trace events included). */
export function violationToJson(v: Violation): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(v, (k, val: unknown) => (k === 'owner' && typeof val !== 'string' ? owner(val) : val === undefined ? null : val)),
  ) as Record<string, unknown>;
}
