/**
 * `own-migration-unrevoked`, `freed-page-mapped` and `dma-unmapped-in-use`: the obligations on a
 * page's copy, free and DMA mappings. A device that kept a translation across its own
 * MIGRATE/EXCLUSIVE invalidation must hold no writable translation to a source page when it is
 * copied, and none at all when it is freed; no device translation or DMA mapping may point at any
 * page when it is freed, no DMA mapping may be made to a page that is already free, and none may
 * be torn down while the device still translates the page.
 */
import { eventName, hex, type Page, PTE_MIGRATION, pteKindOf, ptePfn, type TraceEvent } from '@hmmlab/core';
import { DEV_PTE_WRITE, devPteFlags } from '@hmmlab/harness';
import { type OracleContext, type SkippedTranslation, skipKey } from '../context.js';
import { describeEntry, isMigrating, type Translation, translationsTo } from '../view.js';
import { whatCallbacksDid } from './callback-facts.js';

type CopyEvent = Extract<TraceEvent, { type: 'page-copy' }>;
type FreeEvent = Extract<TraceEvent, { type: 'page-free' }>;
type PteEvent = Extract<TraceEvent, { type: 'pte' }>;
type DmaEvent = Extract<TraceEvent, { type: 'dma' }>;

/**
 * What became of translation `t` of page `vpn` before `what` (the copy, the free): nothing, or,
 * for a TLB entry whose page-table entry is gone, the step it left and that no flush covering it
 * completed since (a flush issued and not waited for revokes nothing).
 */
function notRevoked(ctx: OracleContext, t: Translation, vpn: number, what: string): string {
  if (t.source !== 'tlb' || t.vm.pt.get(vpn) === t.entry) return `nothing revoked it before ${what}`;
  const step = ctx.stale.leftAt(t.vm, vpn, t.entry);
  const left = step === undefined ? '' : ` at step ${step}`;
  return `its page-table entry was ${t.vm.pt.get(vpn) === undefined ? 'cleared' : 'replaced'}${left}, but no flush covering it completed before ${what} (a flush issued and not waited for revokes nothing)`;
}

/** How a translation came to be kept across the device's own invalidation, from what the oracle saw. */
function howKept(skip: SkippedTranslation, dev: string, vm: number, va: number, pageSize: number, granule: number): string {
  const inv = skip.inv;
  const which = `its own ${eventName(inv.event)} invalidation #${inv.id} of [${hex(inv.start)}, ${hex(inv.end)})`;
  if (skip.installedAt !== null) return `installed at step ${skip.installedAt} on the source page of ${which}`;
  return `kept across ${which}: ${whatCallbacksDid(inv, dev, vm, va, pageSize, granule)}`;
}

/**
 * A copy that reads or writes a free page: the copy engine (or the CPU) uses memory that is no
 * longer the process's, as when a copy is left running past the free of its source
 * (`migrate_vma_finalize` or `migrate_device_finalize` put it) or lands in a destination the driver
 * already freed.
 */
function copiesFreePage(ctx: OracleContext, ev: CopyEvent, src: Page | undefined, dst: Page | undefined): void {
  for (const [page, role] of [
    [src, 'reads'],
    [dst, 'writes'],
  ] as const) {
    if (page?.free !== true) continue;
    const at = ctx.freedAt.get(page.pfn);
    ctx.report(
      {
        rule: 'freed-page-mapped',
        explanation: `${ev.by} copies pfn ${ev.src} to pfn ${ev.dst}, but pfn ${page.pfn}, which the copy ${role}, ${at === undefined ? 'is free' : `was freed at step ${at}`}: a copy must complete before its pages are freed (wait for it before migrate_vma_pages and migrate_vma_finalize), and its destination must stay allocated until then`,
        pfn: page.pfn,
        dedupKey: `copy-free:${ev.seq}:${role}`,
      },
      ev,
    );
  }
}

/** A page is copied: a migrating source page must not be writable by a device that kept a translation across its own invalidation. */
export function checkCopy(ctx: OracleContext, ev: CopyEvent): void {
  const k = ctx.world.kernel;
  const src = k.pages.pfnToPage(ev.src);
  copiesFreePage(ctx, ev, src, k.pages.pfnToPage(ev.dst));
  if (src === undefined || !isMigrating(src)) return;
  ctx.copiedOut.set(ev.src, ev.step);
  ctx.cover('window|copy-during-migration');
  for (const t of translationsTo(ctx.world, ctx.stale, ev.src)) {
    const vpn = Math.floor(t.va / k.pageSize);
    const skip = ctx.skipped.get(skipKey(t.vm.id, vpn, ev.src));
    if (skip === undefined) continue;
    if ((devPteFlags(t.entry) & DEV_PTE_WRITE) === 0) continue;
    const dev = t.vm.device;
    ctx.report(
      {
        rule: 'own-migration-unrevoked',
        explanation: `${dev.name} still translates ${hex(t.va)} → ${describeEntry(t.entry)} (${t.source}) while ${ev.by} copies pfn ${ev.src} to pfn ${ev.dst}, ${howKept(skip, dev.name, t.vm.id, t.va, k.pageSize, dev.pageSize)}, and ${notRevoked(ctx, t, vpn, 'the copy')}: a device write after the copy is lost`,
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
  if (ctx.explain) ctx.freedAt.set(ev.pfn, ev.step);
  ctx.copiedOut.delete(ev.pfn);
  ctx.pairs.delete(ev.pfn);
  ctx.migrating.delete(ev.pfn);
  for (const t of translationsTo(ctx.world, ctx.stale, ev.pfn)) {
    const vpn = Math.floor(t.va / k.pageSize);
    const sk = skipKey(t.vm.id, vpn, ev.pfn);
    const skip = ctx.skipped.get(sk);
    ctx.skipped.delete(sk);
    const dev = t.vm.device;
    const tr = [{ device: dev.name, vm: t.vm.id, source: t.source, va: t.va, entry: describeEntry(t.entry) }];
    if (skip !== undefined) {
      ctx.report(
        {
          rule: 'own-migration-unrevoked',
          explanation: `pfn ${ev.pfn} is freed while ${dev.name} still translates ${hex(t.va)} → ${describeEntry(t.entry)} (${t.source}), ${howKept(skip, dev.name, t.vm.id, t.va, k.pageSize, dev.pageSize)}, and ${notRevoked(ctx, t, vpn, 'the free')}: the page may be reused`,
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
          explanation: `pfn ${ev.pfn} is freed while ${dev.name} still translates ${hex(t.va)} → ${describeEntry(t.entry)} (${t.source}): a device access through it reaches a free, soon reused page`,
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
        explanation: `pfn ${ev.pfn} is freed while ${dev.name} still has it DMA-mapped: the device can still reach the free page by DMA`,
        pfn: ev.pfn,
        device: dev,
        translations: [{ device: dev.name, vm: 0, source: 'dma', va: null, entry: `pfn ${ev.pfn}` }],
      },
      ev,
    );
  }
}

/**
 * A DMA mapping is created: the page must not be free. `dma_map_page` takes no reference and checks
 * none, so a driver that maps a pfn it read before the page was freed gives the device a free page.
 */
export function checkDmaMap(ctx: OracleContext, ev: DmaEvent): void {
  if (ev.op === 'unmap') {
    checkDmaUnmap(ctx, ev);
    return;
  }
  const page = ctx.world.kernel.pages.pfnToPage(ev.pfn);
  if (page === undefined || !page.free) return;
  const dev = ctx.world.devices.find((d) => d.name === ev.dev) ?? null;
  const freed = ctx.freedAt.get(ev.pfn);
  ctx.report(
    {
      rule: 'freed-page-mapped',
      explanation: `${ev.dev} DMA-mapped pfn ${ev.pfn}${ev.write ? ' for writing' : ''}, which ${freed === undefined ? 'is free' : `was freed at step ${freed}`}: the device can now reach a free, soon reused page (a pfn kept across the free: pfns from hmm_range_fault stay valid only until mmu_interval_read_retry says to retry)`,
      pfn: ev.pfn,
      device: dev,
      translations: [{ device: ev.dev, vm: 0, source: 'dma', va: null, entry: `pfn ${ev.pfn}` }],
      dedupKey: `freed-page-mapped:dma:${ev.dev}:${ev.pfn}:${ev.seq}`,
    },
    ev,
  );
}

/**
 * A DMA mapping is torn down (`dma_unmap_page`): once the device's last mapping of the page goes,
 * the device must hold no translation that still reaches the page through it, in its page table,
 * its TLB or a walk in progress. "It is the driver's responsibility to ensure, before calling us,
 * that the hardware will not attempt to access the MR any more" (drivers/infiniband/core/umem_odp.c,
 * `ib_umem_odp_release`); `mlx5_ib_invalidate_range` zaps the NIC's entries and waits
 * (`mlx5r_umr_update_xlt`) before `ib_umem_odp_unmap_dma_pages`, and `xe_svm_invalidate`
 * (drivers/gpu/drm/xe/xe_svm.c) waits for its TLB invalidation before
 * `drm_gpusvm_range_unmap_pages`. An access through a translation that outlived its mapping goes
 * to a DMA address that maps nothing (an IOMMU fault), or to another page once the address is
 * handed out again.
 */
function checkDmaUnmap(ctx: OracleContext, ev: DmaEvent): void {
  const dev = ctx.world.devices.find((d) => d.name === ev.dev);
  if (dev === undefined || dev.quiesced || dev.dma.has(ev.pfn)) return;
  const left = translationsTo(ctx.world, ctx.stale, ev.pfn).filter((t) => t.vm.device === dev);
  const first = left[0];
  if (first === undefined) return;
  const more = left.length > 1 ? ` (and ${left.length - 1} more)` : '';
  ctx.report(
    {
      rule: 'dma-unmapped-in-use',
      explanation: `${ev.dev} DMA-unmaps pfn ${ev.pfn} while it still translates ${hex(first.va)} → ${describeEntry(first.entry)} (${first.source})${more}: a device access through it now goes to a DMA address that maps nothing, or to another page once the address is reused; clear the entry and wait for the TLB flush before dma_unmap_page`,
      va: first.va,
      mm: first.vm.mm.id,
      pfn: ev.pfn,
      device: dev,
      translations: left.map((t) => ({ device: dev.name, vm: t.vm.id, source: t.source, va: t.va, entry: describeEntry(t.entry) })),
      dedupKey: `dma-unmapped-in-use:${ev.dev}:${ev.pfn}:${ev.seq}`,
    },
    ev,
  );
}
