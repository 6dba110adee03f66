/**
 * `own-migration-unrevoked` and `freed-page-mapped`: the obligations on a page's copy and free.
 * A device that skipped its own MIGRATE/EXCLUSIVE invalidation must hold no writable translation
 * to a source page when it is copied, and none at all when it is freed; no device translation or
 * DMA mapping may point at any page when it is freed.
 */
import { hex, PTE_MIGRATION, pteKindOf, ptePfn, type TraceEvent } from '@hmmlab/core';
import { DEV_PTE_WRITE, devPteFlags } from '@hmmlab/harness';
import { type OracleContext, skipKey } from '../context.js';
import { describeEntry, isMigrating, translationsTo } from '../view.js';

type CopyEvent = Extract<TraceEvent, { type: 'page-copy' }>;
type FreeEvent = Extract<TraceEvent, { type: 'page-free' }>;
type PteEvent = Extract<TraceEvent, { type: 'pte' }>;

/** A page is copied: a migrating source page must not be writable by a device that skipped its own invalidation. */
export function checkCopy(ctx: OracleContext, ev: CopyEvent): void {
  const k = ctx.world.kernel;
  const src = k.pages.pfnToPage(ev.src);
  if (src === undefined || !isMigrating(src)) return;
  ctx.copiedOut.set(ev.src, ev.step);
  ctx.cover('window|copy-during-migration');
  for (const t of translationsTo(ctx.world, ev.src)) {
    const vpn = Math.floor(t.va / k.pageSize);
    const invId = ctx.skipped.get(skipKey(t.vm.id, vpn, ev.src));
    if (invId === undefined) continue;
    if ((devPteFlags(t.entry) & DEV_PTE_WRITE) === 0) continue;
    const dev = t.vm.device;
    ctx.report(
      {
        rule: 'own-migration-unrevoked',
        explanation: `${dev.name} skipped its own migration invalidation #${invId} but still translates ${hex(t.va)} → ${describeEntry(t.entry)} (${t.source}) while ${ev.by} copies pfn ${ev.src} to pfn ${ev.dst}: a device write after the copy is lost`,
        va: t.va,
        mm: t.vm.mm.id,
        pfn: ev.src,
        device: dev,
        inv: null,
        translations: [{ device: dev.name, vm: t.vm.id, source: t.source, va: t.va, entry: describeEntry(t.entry) }],
        dedupKey: `own-migration-unrevoked:${t.vm.id}:${vpn}:${ev.src}`,
      },
      ev,
    );
  }
}

/**
 * Migration entries come and go. The invalidation that makes one is remembered for its page (whose
 * migration it is). When the last one of a page goes and the page is not freed, the migration was
 * rolled back (`remove_migration_ptes` restored the source): the page holds the memory again, and
 * a copy made before the rollback no longer makes a write to it a lost one.
 */
export function trackMigrationEntries(ctx: OracleContext, ev: PteEvent): void {
  if (pteKindOf(ev.new) === PTE_MIGRATION) {
    const inv = ctx.invs.get(ev.inv);
    if (inv !== undefined) ctx.migrating.set(ptePfn(ev.new), inv);
  }
  if (pteKindOf(ev.old) !== PTE_MIGRATION) return;
  const pfn = ptePfn(ev.old);
  const page = ctx.world.kernel.pages.pfnToPage(pfn);
  if (page !== undefined && isMigrating(page)) return;
  ctx.copiedOut.delete(pfn);
  ctx.migrating.delete(pfn);
}

/** A page is freed: nothing on a running device may still point at it. */
export function checkFree(ctx: OracleContext, ev: FreeEvent): void {
  const k = ctx.world.kernel;
  ctx.copiedOut.delete(ev.pfn);
  ctx.pairs.delete(ev.pfn);
  ctx.migrating.delete(ev.pfn);
  for (const t of translationsTo(ctx.world, ev.pfn)) {
    const vpn = Math.floor(t.va / k.pageSize);
    const sk = skipKey(t.vm.id, vpn, ev.pfn);
    const invId = ctx.skipped.get(sk);
    ctx.skipped.delete(sk);
    const dev = t.vm.device;
    const tr = [{ device: dev.name, vm: t.vm.id, source: t.source, va: t.va, entry: describeEntry(t.entry) }];
    if (invId !== undefined) {
      ctx.report(
        {
          rule: 'own-migration-unrevoked',
          explanation: `${dev.name} skipped its own migration invalidation #${invId} and never revoked ${hex(t.va)} → pfn ${ev.pfn} (${t.source}); the page is now freed and may be reused`,
          va: t.va,
          mm: t.vm.mm.id,
          pfn: ev.pfn,
          device: dev,
          translations: tr,
        },
        ev,
      );
    } else {
      ctx.report(
        {
          rule: 'freed-page-mapped',
          explanation: `pfn ${ev.pfn} is freed while ${dev.name} still translates ${hex(t.va)} → ${describeEntry(t.entry)} (${t.source}): device accesses now hit a free, soon reused page`,
          va: t.va,
          mm: t.vm.mm.id,
          pfn: ev.pfn,
          device: dev,
          translations: tr,
        },
        ev,
      );
    }
  }
  for (const dev of ctx.world.devices) {
    if (dev.quiesced || !dev.dma.has(ev.pfn)) continue;
    ctx.report(
      {
        rule: 'freed-page-mapped',
        explanation: `pfn ${ev.pfn} is freed while ${dev.name} still has it DMA-mapped: the device can DMA into a free page`,
        pfn: ev.pfn,
        device: dev,
        translations: [{ device: dev.name, vm: 0, source: 'dma', va: null, entry: `pfn ${ev.pfn}` }],
      },
      ev,
    );
  }
}
