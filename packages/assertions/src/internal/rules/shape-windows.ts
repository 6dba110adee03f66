/**
 * Coverage of workload shapes that no rule needs but whose absence would leave bugs unreachable:
 * a device mapping the shared zero page and the hole filled under it, a migration that dropped an
 * entry it had collected, and one invalidation over several VMAs or several notifiers.
 */
import { PTE_MIGRATION, pteKindOf, ptePfn, type TraceEvent } from '@hmmlab/core';
import { devPtePfn } from '@hmmlab/harness';
import type { OracleContext } from '../context.js';
import type { ActiveInvalidation } from '../state.js';

/** Shape windows, as the oracle's coverage reports them. */
export const SHAPE_WINDOWS = [
  'zero-page-mapped-by-device',
  'zero-page-filled-under-device',
  'partial-migration',
  'multi-vma-invalidation',
  'multi-notifier-invalidation',
] as const;

/** A device installs a translation of the shared zero page (a read fault of untouched anonymous memory). */
export function coverDevPte(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'dev-pte' }>): void {
  if (ev.new !== 0 && devPtePfn(ev.new) === ctx.world.kernel.pages.zeroPage.pfn) ctx.cover('window|zero-page-mapped-by-device');
}

/**
 * A CPU entry changes: the zero page replaced (a write fault or a migration filling the hole)
 * where a device held a translation of it when the invalidation started, or a migration entry restored to its
 * own page, so that collected entry lost MIGRATE_PFN_MIGRATE (pinned, mapped again or busy: the
 * restore of `migrate_vma_unmap`/`migrate_vma_finalize`, mm/migrate_device.c).
 */
export function coverPte(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'pte' }>): void {
  const zero = ctx.world.kernel.pages.zeroPage.pfn;
  if (ev.inv >= 0 && ev.old !== 0 && ptePfn(ev.old) === zero && (ev.new === 0 || ptePfn(ev.new) !== zero)) {
    // Held when the invalidation started: a correct driver has dropped it by now.
    const vpn = Math.floor(ev.va / ctx.world.kernel.pageSize);
    const held = ctx.invs.get(ev.inv)?.before;
    for (const b of held?.values() ?? []) {
      if (b.vpn === vpn && devPtePfn(b.entry) === zero) {
        ctx.cover('window|zero-page-filled-under-device');
        break;
      }
    }
  }
  if (pteKindOf(ev.old) === PTE_MIGRATION && ev.new !== 0 && ptePfn(ev.new) === ptePfn(ev.old)) ctx.cover('window|partial-migration');
}

/** An invalidation starts: one range over several VMAs. */
export function coverInvalidationStart(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'inv-start' }>): void {
  const mm = ctx.world.processes.find((m) => m.id === ev.mm);
  if (mm !== undefined && mm.vmasIn(ev.start, ev.end).length > 1) ctx.cover('window|multi-vma-invalidation');
}

/** An invalidation's start callbacks returned: several notifiers were called for it. */
export function coverCallbacks(ctx: OracleContext, inv: ActiveInvalidation): void {
  const subs = new Set<string>();
  for (const e of inv.callbackEvents) if (e.type === 'inv-callback' && e.phase === 'enter') subs.add(e.sub);
  if (subs.size > 1) ctx.cover('window|multi-notifier-invalidation');
}
