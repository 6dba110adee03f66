/**
 * Coverage of workload shapes that no rule needs but whose absence would leave bugs unreachable:
 * a device mapping the shared zero page and the hole filled under it, a migration that dropped an
 * entry it had collected, a migration entry zapped while its migration runs, a transparent huge
 * page migrated whole or split for a migration, one invalidation over several VMAs or several
 * notifiers, two CPU faults on one device-private page at once, and a device writing a page
 * `MADV_FREE` left lazily freeable.
 */
import { PTE_DIRTY, PTE_MIGRATION, pteFlags, pteKindOf, ptePfn, type TraceEvent } from '@hmmlab/core';
import { devPtePfn } from '@hmmlab/harness';
import type { OracleContext } from '../context.js';
import type { ActiveInvalidation } from '../state.js';

/** What the shape windows follow during a run (the oracle's `OracleContext.shapes`). */
export interface ShapeState {
  /**
   * Source pages whose migration entry was zapped, and source pages a migration has given a
   * destination (`migrate-pair`), each since its latest migration entry was installed.
   */
  readonly zapped: Set<number>;
  readonly paired: Map<number, number>;
  /** CPU faults in flight on each device-private page. */
  readonly privateFaults: Map<number, number>;
}

/** The state of a run that starts. */
export function newShapeState(): ShapeState {
  return { zapped: new Set(), paired: new Map(), privateFaults: new Map() };
}

/**
 * A page a migration moves (it has a destination) lost its CPU entry to a zap (munmap,
 * MADV_DONTNEED, exit) while the migration held it as a migration entry: remove_migration_ptes
 * finds nothing to restore, and the destination is freed at finalize (mm/migrate_device.c
 * `migrate_vma_finalize`); a driver that maps the destination anyway, or misses the zap, maps a
 * freed page. Named by where the page was going.
 */
function coverZappedMigration(ctx: OracleContext, dst: number): void {
  const device = ctx.world.kernel.pages.pfnToPage(dst)?.isZoneDevice === true;
  ctx.cover(device ? 'window|zap-during-migration-to-device' : 'window|zap-during-migration-to-ram');
}

/** Shape windows, as the oracle's coverage reports them. */
export const SHAPE_WINDOWS = [
  'zero-page-mapped-by-device',
  'zero-page-filled-under-device',
  'partial-migration',
  'zap-during-migration-to-device',
  'zap-during-migration-to-ram',
  'huge-page-migrated-whole',
  'huge-page-split-for-migration',
  'multi-vma-invalidation',
  'multi-notifier-invalidation',
  'cpu-faults-on-one-device-page',
  'device-write-to-lazyfree-page',
  'device-fault-retried-at-rest',
] as const;

/**
 * A device writes a system page that `MADV_FREE` left lazily freeable and that nothing has
 * dirtied since (no CPU write, no `set_page_dirty`): the write leaves the CPU entry clean, so
 * reclaim may still discard the page unless the driver marks it dirty when it revokes the
 * translation (mm/rmap.c `try_to_unmap_one`, "MADV_FREE page check").
 */
export function coverDevAccess(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'dev-access' }>): void {
  if (ev.kind === 'read') return;
  const page = ctx.world.kernel.pages.pfnToPage(ev.pfn);
  if (page === undefined || !page.lazyfree || page.dirty) return;
  const ps = ctx.world.kernel.pageSize;
  const mms = page.rmapMm;
  for (let i = 0; i < mms.length; i++) {
    const e = mms[i]?.pt.get(Math.floor((page.rmapVa[i] as number) / ps)) ?? 0;
    if ((pteFlags(e) & PTE_DIRTY) !== 0) return;
  }
  ctx.cover('window|device-write-to-lazyfree-page');
}

/** A device installs a translation of the shared zero page (a read fault of untouched anonymous memory). */
export function coverDevPte(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'dev-pte' }>): void {
  if (ev.new !== 0 && ctx.world.kernel.pages.isAnyZeroPfn(devPtePfn(ev.new))) ctx.cover('window|zero-page-mapped-by-device');
}

/**
 * A CPU entry changes: the zero page replaced (a write fault or a migration filling the hole)
 * where a device held a translation of it when the invalidation started, or a migration entry restored to its
 * own page, so that collected entry lost MIGRATE_PFN_MIGRATE (pinned, mapped again or busy: the
 * restore of `migrate_vma_unmap`/`migrate_vma_finalize`, mm/migrate_device.c).
 */
export function coverPte(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'pte' }>): void {
  // The zero page or a page of the huge zero page, replaced by anything but a zero page (a split
  // of the huge zero page maps the zero page instead: no data changes).
  const pages = ctx.world.kernel.pages;
  const oldPfn = ptePfn(ev.old);
  if (ev.inv >= 0 && ev.old !== 0 && pages.isAnyZeroPfn(oldPfn) && (ev.new === 0 || !pages.isAnyZeroPfn(ptePfn(ev.new)))) {
    // Held when the invalidation started: a correct driver has dropped it by now.
    const vpn = Math.floor(ev.va / ctx.world.kernel.pageSize);
    const held = ctx.invs.get(ev.inv)?.before;
    for (const b of held?.values() ?? []) {
      if (b.vpn === vpn && devPtePfn(b.entry) === oldPfn) {
        ctx.cover('window|zero-page-filled-under-device');
        break;
      }
    }
  }
  if (pteKindOf(ev.new) === PTE_MIGRATION) {
    const z = ctx.shapes;
    z.zapped.delete(ptePfn(ev.new));
    z.paired.delete(ptePfn(ev.new));
  }
  if (pteKindOf(ev.old) === PTE_MIGRATION) {
    if (ev.new !== 0 && ptePfn(ev.new) === ptePfn(ev.old)) ctx.cover('window|partial-migration');
    else if (ev.new === 0) {
      const z = ctx.shapes;
      const src = ptePfn(ev.old);
      const dst = z.paired.get(src);
      if (dst !== undefined) coverZappedMigration(ctx, dst);
      else z.zapped.add(src);
    }
  }
}

/**
 * Page metadata moves from `src` to `dst`: a page zapped while it migrated (see
 * {@link coverZappedMigration}), or a whole transparent huge page when both are heads of large
 * folios (MIGRATE_PFN_COMPOUND on both sides, mm/migrate_device.c `migrate_vma_pages`).
 */
export function coverMigratePair(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'migrate-pair' }>): void {
  const z = ctx.shapes;
  if (z.zapped.delete(ev.src)) coverZappedMigration(ctx, ev.dst);
  else z.paired.set(ev.src, ev.dst);
  const pages = ctx.world.kernel.pages;
  if ((pages.pfnToPage(ev.src)?.order ?? 0) > 0 && (pages.pfnToPage(ev.dst)?.order ?? 0) > 0) ctx.cover('window|huge-page-migrated-whole');
}

/**
 * A large folio is split while isolated for a migration: its destination is base pages
 * (`migrate_vma_split_unmapped_folio`, mm/migrate_device.c), as when a driver falls back from a
 * huge device page it could not allocate.
 */
export function coverFolioSplit(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'folio-split' }>): void {
  if (ctx.world.kernel.pages.pfnToPage(ev.pfn)?.isolated === true) ctx.cover('window|huge-page-split-for-migration');
}

/** An invalidation starts: one range over several VMAs. */
export function coverInvalidationStart(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'inv-start' }>): void {
  const mm = ctx.world.processes.find((m) => m.id === ev.mm);
  if (mm !== undefined && mm.vmasIn(ev.start, ev.end).length > 1) ctx.cover('window|multi-vma-invalidation');
}

/**
 * An invalidation's start callbacks returned: several notifiers were called for it. Each
 * subscription's start callback is entered once per invalidation (`mn_itree_invalidate`,
 * `mn_hlist_invalidate_range_start`, mm/mmu_notifier.c), so the entries are counted: names do
 * not tell subscriptions apart (a driver may give all its notifiers one name, as two GPUs' do).
 */
export function coverCallbacks(ctx: OracleContext, inv: ActiveInvalidation): void {
  let starts = 0;
  for (const e of inv.callbackEvents) {
    if (e.type === 'inv-callback' && e.phase === 'enter' && (e.op === 'invalidate' || e.op === 'invalidate-range-start')) starts++;
  }
  if (starts > 1) ctx.cover('window|multi-notifier-invalidation');
}

/**
 * CPU faults on device-private entries: two at once on the same device page. In `do_swap_page`
 * (mm/memory.c) each holds a reference to the page (6.1) or waits for its lock (1afaeb8293c9,
 * ~6.15) while the other runs the owner's `migrate_to_ram`, whose `migrate_vma_setup` then finds
 * the page pinned and migrates nothing: the shape in which a driver lock taken before
 * `migrate_vma_setup` livelocks the faulting threads.
 */
export function coverPrivateFault(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'private-fault' }>): void {
  const inFlight = ctx.shapes.privateFaults;
  const n = inFlight.get(ev.pfn) ?? 0;
  if (ev.phase === 'begin') {
    if (n > 0) ctx.cover('window|cpu-faults-on-one-device-page');
    inFlight.set(ev.pfn, n + 1);
  } else if (n <= 1) inFlight.delete(ev.pfn);
  else inFlight.set(ev.pfn, n - 1);
}
