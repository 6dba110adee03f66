/**
 * What a rule sees: the world, the oracle's state, and a way to report.
 */
import type { TraceEvent } from '@hmmlab/core';
import type { Device, World } from '@hmmlab/harness';
import type { InvalidationInfo, TranslationInfo } from './report.js';
import type { ShapeState } from './rules/shape-windows.js';
import type { RuleId } from './rules.js';
import type { ActiveInvalidation, FlushCounts } from './state.js';
import type { StaleEntries } from './tlb-walk.js';

/** The fields of a violation a rule provides; the oracle adds step, task, trace and callbacks. */
export interface ViolationInput {
  readonly rule: RuleId;
  readonly explanation: string;
  readonly mm?: number | null;
  readonly va?: number | null;
  readonly pfn?: number | null;
  readonly device?: Device | null;
  readonly inv?: ActiveInvalidation | null;
  readonly translations?: readonly TranslationInfo[];
  readonly context?: string | null;
  /** The task to name (default: the running one). */
  readonly task?: { readonly name: string; readonly id: number } | null;
  /** Report each key once (default: rule + device + va + pfn). */
  readonly dedupKey?: string;
}

/**
 * A translation kept under a legal skip: kept across the device's own invalidation `inv`, or
 * installed (at step `installedAt`) on a source page that invalidation is migrating.
 */
export interface SkippedTranslation {
  readonly inv: ActiveInvalidation;
  readonly installedAt: number | null;
}

/** A page a CPU entry stopped mapping: at which step, why, and under which invalidation. */
export interface FormerPage {
  readonly pfn: number;
  readonly step: number;
  readonly why: string;
  /** The id of the invalidation the change was made under; -1 when none. */
  readonly invId: number;
  /** That invalidation's event (`MMU_NOTIFY_*`); -1 when none. */
  readonly invEvent: number;
}

/** The oracle as rules see it. */
export interface OracleContext {
  readonly world: World;
  /** Active invalidations by id. */
  readonly invs: Map<number, ActiveInvalidation>;
  /** Translations kept under a legal skip: `vmId:vpn:pfn` → how. */
  readonly skipped: Map<string, SkippedTranslation>;
  /** Source pages copied while migrating: pfn → step of the copy. */
  readonly copiedOut: Map<number, number>;
  /** Migration destinations: dst pfn → { src pfn, owner }. */
  readonly pairs: Map<number, { src: number; owner: unknown }>;
  /** Source pages with migration entries: pfn → the invalidation that made them (a MIGRATE or CLEAR, with its owner). */
  readonly migrating: Map<number, ActiveInvalidation>;
  /** The last page each CPU entry stopped mapping: mm id → virtual page number → that page and the change. */
  readonly formerPage: Map<number, Map<number, FormerPage>>;
  /** The last change that took write access from a CPU entry that kept its page: mm id → virtual page number → that change. */
  readonly lostWrite: Map<number, Map<number, FormerPage>>;
  /** Free pages: pfn → step of the free (forgotten when the page is allocated again). */
  readonly freedAt: Map<number, number>;
  /**
   * False for a verdict-only oracle (`OracleOptions.verdictOnly`): what only explanations read
   * ({@link OracleContext.formerPage}, {@link OracleContext.lostWrite},
   * {@link OracleContext.freedAt}) stays empty.
   */
  readonly explain: boolean;
  /** Device entries that may still be cached after they left the page table (tlb-walk.ts). */
  readonly stale: StaleEntries;
  /** What the shape windows follow (rules/shape-windows.ts). */
  readonly shapes: ShapeState;
  report(v: ViolationInput, at: TraceEvent): void;
  counts(event: number): FlushCounts;
  /** Records that a coverage cell or window was reached. */
  cover(key: string): void;
  invalidationInfo(inv: ActiveInvalidation, device: Device | null): InvalidationInfo;
}

/** True if `device` may skip invalidation `inv`: its own MIGRATE or EXCLUSIVE (bug-classes I5 a, b). */
export function legalSkip(inv: ActiveInvalidation, device: Device): boolean {
  return (inv.event === 6 || inv.event === 7) && inv.owner !== undefined && inv.owner !== null && inv.owner === device.owner;
}

/** Key of a translation kept under a legal skip. */
export function skipKey(vmId: number, vpn: number, pfn: number): string {
  return `${vmId}:${vpn}:${pfn}`;
}
