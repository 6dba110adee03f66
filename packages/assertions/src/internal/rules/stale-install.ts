/**
 * `stale-install`: a device installs only translations the CPU entry allows, and none for an
 * address whose invalidation already told devices to stop (its start callbacks returned and its
 * entries may change now). The one legal exception: the migrating owner may map the destination
 * page of an entry still migrating, between `migrateVmaPages` and `migrateVmaFinalize` (the
 * kernel-doc of `migrate_vma_setup` allows it; test_hmm and nouveau do it). And a device that may
 * skip a migration (its own MIGRATE) may also map that migration's source page meanwhile, writable
 * only until the page is copied: that is no worse than keeping the translation, so the same
 * obligations follow it (revoked before the copy if writable, before the free at all:
 * `own-migration-unrevoked`).
 */
import { type DevPagemap, eventName, formatPte, hex, PTE_MIGRATION, pteKindOf, ptePfn, type TraceEvent } from '@hmmlab/core';
import { DEV_PTE_WRITE, devPteFlags, devPtePfn } from '@hmmlab/harness';
import { legalSkip, type OracleContext, skipKey } from '../context.js';
import { cpuAllows, describeEntry } from '../view.js';

type DevPteEvent = Extract<TraceEvent, { type: 'dev-pte' }>;

/** Checks one device entry install. */
export function checkInstall(ctx: OracleContext, ev: DevPteEvent): void {
  if (ev.new === 0) return;
  const dev = ctx.world.devices.find((d) => d.name === ev.dev);
  const vm = dev?.vms.find((v) => v.id === ev.vm);
  if (dev === undefined || vm === undefined) return;
  const k = ctx.world.kernel;
  const mm = vm.mm;
  const pte = mm.pte(ev.va);
  const pfn = devPtePfn(ev.new);
  const tr = [{ device: dev.name, vm: vm.id, source: 'pt' as const, va: ev.va, entry: describeEntry(ev.new) }];
  if (!cpuAllows(k, pte, ev.new, dev)) {
    const pair = ctx.pairs.get(pfn);
    // "The migrating owner": the owner the migration carried, or, in kernels whose ranges carry
    // none (5.8), the device whose memory is the source or the destination.
    const ownerOf = (p: number): unknown => (k.pages.pfnToPage(p)?.pgmap as DevPagemap | null | undefined)?.owner;
    const migratingOwner =
      pair !== undefined &&
      (pair.owner !== undefined && pair.owner !== null
        ? pair.owner === dev.owner
        : ownerOf(pfn) === dev.owner || ownerOf(pair.src) === dev.owner);
    const destinationOfOwnMigration = pteKindOf(pte) === PTE_MIGRATION && pair !== undefined && pair.src === ptePfn(pte) && migratingOwner;
    if (destinationOfOwnMigration) return;
    const migration = pteKindOf(pte) === PTE_MIGRATION && ptePfn(pte) === pfn ? ctx.migrating.get(pfn) : undefined;
    // Writable once the page was copied is too late: the write would miss the destination.
    const writableAfterCopy = ctx.copiedOut.has(pfn) && (devPteFlags(ev.new) & DEV_PTE_WRITE) !== 0;
    if (migration !== undefined && legalSkip(migration, dev) && !writableAfterCopy) {
      ctx.skipped.set(skipKey(vm.id, Math.floor(ev.va / k.pageSize), pfn), migration.id);
      return;
    }
    ctx.report(
      {
        rule: 'stale-install',
        explanation: `${dev.name} installed ${hex(ev.va)} → ${describeEntry(ev.new)}, but the CPU entry is ${formatPte(pte)}: the pfns it programmed are no longer what the CPU maps (a missing or misplaced mmu_interval_read_retry, or pfns used after the notifier lock was dropped)`,
        mm: mm.id,
        va: ev.va,
        pfn,
        device: dev,
        translations: tr,
      },
      ev,
    );
    return;
  }
  for (const inv of ctx.invs.values()) {
    if (!inv.started || inv.mm !== mm.id || ev.va < inv.start || ev.va >= inv.end || legalSkip(inv, dev)) continue;
    ctx.report(
      {
        rule: 'stale-install',
        explanation: `${dev.name} installed ${hex(ev.va)} → ${describeEntry(ev.new)} after invalidation #${inv.id} (${eventName(inv.event)}) had told every device to stop using ${hex(ev.va)}; the CPU entry is about to change (the seq check under the driver lock should have failed)`,
        mm: mm.id,
        va: ev.va,
        pfn,
        device: dev,
        inv,
        translations: tr,
      },
      ev,
    );
    return;
  }
}
