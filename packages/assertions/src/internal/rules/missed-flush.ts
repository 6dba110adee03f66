/**
 * `missed-flush`: when the core changes a CPU entry inside an invalidation, no running device may
 * still hold a translation of that address that the new entry does not allow, unless the
 * invalidation is the device's own MIGRATE, or its own EXCLUSIVE making the entry device-exclusive
 * (then the obligation moves to the copy and the free of the page: `own-migration-unrevoked`).
 * Also checked when a device's queues resume.
 */
import { eventName, formatPte, hex, MMU_NOTIFY_EXCLUSIVE, PTE_DEVICE_EXCLUSIVE, pteKindOf, type TraceEvent } from '@hmmlab/core';
import { devPtePfn } from '@hmmlab/harness';
import { legalSkip, type OracleContext, skipKey } from '../context.js';
import { formatOwner } from '../report.js';
import { activeVms, cpuAllows, describeEntry, pageKindFor, translationsOf } from '../view.js';
import { whatCallbacksDid } from './callback-facts.js';

type PteEvent = Extract<TraceEvent, { type: 'pte' }>;
type QueueEvent = Extract<TraceEvent, { type: 'dev-queue' }>;

/**
 * Whether an entry change under the device's own invalidation may keep its translation for now.
 * A MIGRATE moves the obligation to the copy and the free of the source page. An EXCLUSIVE defers
 * nothing unless the entry becomes the device-exclusive entry its owner asked for: an EXCLUSIVE
 * that gives the page back to the CPU (the revocation, on a core that passes an owner there) must
 * take the device's atomic translation away now, as no copy or free follows it.
 */
function deferrable(event: number, newPte: number): boolean {
  return event !== MMU_NOTIFY_EXCLUSIVE || pteKindOf(newPte) === PTE_DEVICE_EXCLUSIVE;
}

/** Checks a CPU entry change made under an invalidation. */
export function checkPteChange(ctx: OracleContext, ev: PteEvent): void {
  const inv = ctx.invs.get(ev.inv);
  if (inv === undefined) return;
  const k = ctx.world.kernel;
  const vpn = Math.floor(ev.va / k.pageSize);
  const counts = ctx.counts(inv.event);
  for (const vm of activeVms(ctx.world, ev.mm)) {
    const dev = vm.device;
    const own = inv.owner === undefined || inv.owner === null ? 'none' : inv.owner === dev.owner ? 'own' : 'foreign';
    const had = inv.before.has(`${vm.id}:${vpn}`) ? 'mapped' : 'unmapped';
    ctx.cover(`cell|${eventName(inv.event)}|${own}|${pageKindFor(k, ev.old, dev)}|${inv.blockable ? 'blockable' : 'nonblockable'}|${had}`);
  }
  for (const t of translationsOf(ctx.world, ev.mm, ev.va)) {
    const dev = t.vm.device;
    if (cpuAllows(k, ev.new, t.entry, dev)) continue;
    const key = `${t.vm.id}:${vpn}`;
    if (!inv.needed.has(key)) {
      inv.needed.add(key);
      counts.needed++;
    }
    if (legalSkip(inv, dev) && deferrable(inv.event, ev.new)) {
      const sk = skipKey(t.vm.id, vpn, devPtePfn(t.entry));
      if (!ctx.skipped.has(sk)) counts.legalSkips++;
      ctx.skipped.set(sk, { inv, installedAt: null });
      continue;
    }
    counts.missed++;
    const pt = t.vm.pt.get(vpn);
    const how =
      t.source === 'tlb' && pt !== t.entry
        ? `its TLB still holds it (the page-table entry was ${pt === undefined ? 'cleared' : 'replaced'} but no completed flush removed it)`
        : 'its page table still maps it';
    const did = whatCallbacksDid(inv, dev.name, t.vm.id, ev.va, k.pageSize);
    ctx.report(
      {
        rule: 'missed-flush',
        explanation: `${dev.name} still translates ${hex(ev.va)} → ${describeEntry(t.entry)} after ${eventName(inv.event)} (owner ${formatOwner(inv.owner)}) changed the CPU entry to ${formatPte(ev.new)}: ${how}; ${did}`,
        mm: ev.mm,
        va: ev.va,
        pfn: devPtePfn(t.entry),
        device: dev,
        inv,
        translations: [{ device: dev.name, vm: t.vm.id, source: t.source, va: ev.va, entry: describeEntry(t.entry) }],
      },
      ev,
    );
  }
}

/** When queues resume, every translation must be allowed by the CPU entry again (N7: quiesce, revalidate, resume). */
export function checkResume(ctx: OracleContext, ev: QueueEvent): void {
  if (ev.op !== 'resume') return;
  const dev = ctx.world.devices.find((d) => d.name === ev.dev);
  if (dev === undefined) return;
  const k = ctx.world.kernel;
  for (const vm of dev.vms) {
    for (const [source, map] of [
      ['tlb', vm.tlb],
      ['pt', vm.pt],
    ] as const) {
      for (const [vpn, entry] of map) {
        const va = vpn * k.pageSize;
        const pte = vm.mm.pte(va);
        if (cpuAllows(k, pte, entry, dev)) continue;
        ctx.report(
          {
            rule: 'missed-flush',
            explanation: `${dev.name} resumed its queues while still translating ${hex(va)} → ${describeEntry(entry)}, but the CPU entry is now ${formatPte(pte)}: the translation had to be revalidated or removed before resuming`,
            mm: vm.mm.id,
            va,
            pfn: devPtePfn(entry),
            device: dev,
            translations: [{ device: dev.name, vm: vm.id, source, va, entry: describeEntry(entry) }],
          },
          ev,
        );
      }
    }
  }
}
