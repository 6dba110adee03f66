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
import {
  type DevPagemap,
  eventName,
  formatPte,
  hex,
  type Mm,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_MIGRATION,
  PTE_PRESENT,
  pteAccessible,
  pteKindOf,
  ptePfn,
  pteWrite,
  type TraceEvent,
} from '@hmmlab/core';
import { DEV_PTE_ATOMIC, DEV_PTE_WRITE, type Device, devPteFlags, devPtePfn } from '@hmmlab/harness';
import { type FormerPage, legalSkip, type OracleContext, skipKey } from '../context.js';
import type { ActiveInvalidation } from '../state.js';
import { cpuAllows, describeEntry } from '../view.js';
import { callbackActs } from './callback-facts.js';

type DevPteEvent = Extract<TraceEvent, { type: 'dev-pte' }>;
type PteEvent = Extract<TraceEvent, { type: 'pte' }>;

/** Entry kinds through which a CPU entry refers to a page. */
function mapsPage(pte: number): boolean {
  const kind = pteKindOf(pte);
  return kind === PTE_PRESENT || kind === PTE_DEVICE_PRIVATE || kind === PTE_DEVICE_EXCLUSIVE || kind === PTE_MIGRATION;
}

/**
 * Remembers the page a CPU entry stops mapping (cleared, replaced by another page, or turned into
 * a migration entry), so an install of that page later can be explained by the change it missed.
 */
export function trackFormerPage(ctx: OracleContext, ev: PteEvent): void {
  if (!mapsPage(ev.old) || pteKindOf(ev.old) === PTE_MIGRATION) return;
  const pfn = ptePfn(ev.old);
  let changes = ctx.formerPage;
  if (mapsPage(ev.new) && pteKindOf(ev.new) !== PTE_MIGRATION && ptePfn(ev.new) === pfn) {
    // The same page kept: remembered only when it lost write access (mprotect, fork's COW).
    if (pteKindOf(ev.old) !== PTE_PRESENT || !pteWrite(ev.old) || pteWrite(ev.new)) return;
    changes = ctx.lostWrite;
  }
  const inv = ctx.invs.get(ev.inv);
  let byVpn = changes.get(ev.mm);
  if (byVpn === undefined) {
    byVpn = new Map();
    changes.set(ev.mm, byVpn);
  }
  // One flat record per change: the exit of a huge page's mm clears 512 entries.
  byVpn.set(Math.floor(ev.va / ctx.world.kernel.pageSize), {
    pfn,
    step: ev.step,
    why: ev.why,
    invId: inv === undefined ? -1 : inv.id,
    invEvent: inv === undefined ? -1 : inv.event,
  });
}

/** Why an installed entry is not what the CPU entry allows, from what the oracle saw of this page and address. */
function whyNotAllowed(ctx: OracleContext, dev: Device, mmObj: Mm, va: number, pte: number, entry: number): string {
  const k = ctx.world.kernel;
  const mm = mmObj.id;
  const retry = retryAdvice(mmObj);
  const pfn = devPtePfn(entry);
  const page = k.pages.pfnToPage(pfn);
  const facts: string[] = [];
  if (page?.free === true) {
    const at = ctx.freedAt.get(pfn);
    facts.push(`pfn ${pfn} ${at === undefined ? 'is free' : `was freed at step ${at}`}`);
  }
  const former = ctx.formerPage.get(mm)?.get(Math.floor(va / k.pageSize));
  if (page?.isDevicePrivate === true && (page.pgmap as DevPagemap | null)?.owner !== dev.owner) {
    facts.push(`pfn ${pfn} is device-private memory of another owner, which ${dev.name} cannot reach`);
  } else if (former !== undefined && former.pfn === pfn && !(mapsPage(pte) && ptePfn(pte) === pfn)) {
    facts.push(
      `the CPU entry of ${hex(va)} stopped mapping pfn ${pfn} at step ${former.step} (${former.why}${former.invId < 0 ? '' : `, invalidation #${former.invId} ${eventName(former.invEvent)}`}), and the device was given it after that change: a pfn from hmm_range_fault or get_user_pages, or kept by the driver since (a cache of its own, a snapshot a worker maps), ${retry}`,
    );
  } else if (mapsPage(pte) && ptePfn(pte) === pfn) {
    facts.push(samePageWhy(ctx, pte, entry, ctx.lostWrite.get(mm)?.get(Math.floor(va / k.pageSize)), retry));
  } else if (facts.length === 0) {
    facts.push(`pfn ${pfn} is not the page the CPU maps at ${hex(va)}`);
  }
  return facts.join('; ');
}

/**
 * How a fault path learns that a pfn it looked up went stale: `mmu_interval_read_retry` on an mm
 * with interval notifiers; on one with classic notifiers only, the driver's own record of the
 * invalidations (KVM's `mmu_invalidate_retry`: a count raised in `invalidate_range_start`, a
 * sequence moved in `invalidate_range_end`).
 */
function retryAdvice(mm: Mm): string {
  const subs = mm.notifierSubscriptions;
  if (subs === null || subs.hasItree || subs.list.length === 0) {
    return 'stays valid only while mmu_interval_read_retry, checked under the lock the callback takes, says so';
  }
  return (
    'stays valid only until the next invalidation starts: with classic notifiers the fault path must find out, under the ' +
    'lock the callbacks take, that one started or ran since it looked the page up (a count raised in invalidate_range_start ' +
    "and a sequence moved in invalidate_range_end, as KVM's mmu_invalidate_retry)"
  );
}

/**
 * Why an entry for the very page the CPU entry refers to is not allowed; `lost`: the last change
 * that took write access from the CPU entry, if the oracle saw one.
 */
function samePageWhy(ctx: OracleContext, pte: number, entry: number, lost: FormerPage | undefined, retry: string): string {
  const pfn = devPtePfn(entry);
  if (pteKindOf(pte) === PTE_MIGRATION) {
    const copied = ctx.copiedOut.get(pfn);
    if (copied !== undefined && (devPteFlags(entry) & DEV_PTE_WRITE) !== 0) {
      return `pfn ${pfn} is being migrated and was already copied at step ${copied}: a device write through it would miss the destination`;
    }
    return `pfn ${pfn} is being migrated (the CPU entry is a migration entry), and only a device whose owner is the migration's may map a source page meanwhile`;
  }
  if (pteKindOf(pte) === PTE_PRESENT && !pteAccessible(pte)) return `the CPU entry maps pfn ${pfn} with no access (PROT_NONE)`;
  if ((devPteFlags(entry) & DEV_PTE_ATOMIC) !== 0 && pteKindOf(pte) !== PTE_DEVICE_EXCLUSIVE) {
    return `the device was given atomic access to pfn ${pfn}, which needs the CPU entry to be device-exclusive for it`;
  }
  const readOnly = `the CPU entry maps pfn ${pfn} read-only, but the device was given it writable`;
  if (lost === undefined || lost.pfn !== pfn) return readOnly;
  return `${readOnly}; the CPU entry lost write access at step ${lost.step} (${lost.why}${lost.invId < 0 ? '' : `, invalidation #${lost.invId} ${eventName(lost.invEvent)}`}): a pfn a fault path got writable before that change ${retry}, and one got read-only (HMM_PFN_WRITE clear) must be mapped read-only`;
}

/** What the callbacks of an invalidation in progress did to the fault path's seq check. */
function whySeqPassed(inv: ActiveInvalidation): string {
  const acts = callbackActs(inv, '', -1);
  if (acts.callbacks.length === 0) return 'no notifier callback ran for it';
  if (!inv.callbackEvents.some((e) => e.type === 'inv-callback' && e.op === 'invalidate'))
    return "only classic notifier callbacks ran for it, so the driver's own invalidation state had to stop the install";
  return acts.setSeq
    ? 'a callback called mmu_interval_set_seq, so mmu_interval_read_retry would have said to retry: the install did not check it, or not under the lock the callback takes'
    : 'no callback called mmu_interval_set_seq, so mmu_interval_read_retry could not tell the fault path to retry';
}

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
      ctx.skipped.set(skipKey(vm.id, Math.floor(ev.va / k.pageSize), pfn), { inv: migration, installedAt: ev.step });
      return;
    }
    ctx.report(
      {
        rule: 'stale-install',
        explanation: `${dev.name} installed ${hex(ev.va)} → ${describeEntry(ev.new)}, but the CPU entry is ${formatPte(pte)}: ${whyNotAllowed(ctx, dev, mm, ev.va, pte, ev.new)}`,
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
        explanation: `${dev.name} installed ${hex(ev.va)} → ${describeEntry(ev.new)} after invalidation #${inv.id} (${eventName(inv.event)}) of [${hex(inv.start)}, ${hex(inv.end)}) had run its callbacks, so the CPU entry may change under it at any time: ${whySeqPassed(inv)}`,
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
