/**
 * `missed-flush`: when the core changes a CPU entry inside an invalidation, no running device may
 * still hold a translation of that address that the new entry does not allow, unless the
 * invalidation is the device's own MIGRATE, or its own EXCLUSIVE making the entry device-exclusive
 * (then the obligation moves to the copy and the free of the page: `own-migration-unrevoked`).
 * Also checked when a device's queues resume.
 */
import { eventName, formatPte, hex, MMU_NOTIFY_EXCLUSIVE, PTE_DEVICE_EXCLUSIVE, pteKindOf, type TraceEvent } from '@hmmlab/core';
import { type DeviceVm, devPtePfn } from '@hmmlab/harness';
import { legalSkip, type OracleContext, skipKey } from '../context.js';
import { formatOwner } from '../report.js';
import { type ActiveInvalidation, translationKey } from '../state.js';
import { activeVms, cpuAllows, describeEntry, pageKindFor, type Translation, translationsOf } from '../view.js';
import { callbackActs, whatCallbacksDid } from './callback-facts.js';

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

/** ` in the 64 KiB granule [a, b) it caches` for a device whose TLB entries span several CPU pages; '' otherwise. */
function inGranule(vm: DeviceVm, va: number): string {
  if (vm.device.pageSize === vm.device.kernel.pageSize) return '';
  const g = vm.granuleOf(va);
  return ` in the ${formatSize(vm.device.pageSize)} granule [${hex(g.start)}, ${hex(g.end)}) it caches as one entry`;
}

/** `[a, b)`, the span of the leaf page-table page holding `va` (see `DeviceOptions.walkCache`). */
function tableOf(vm: DeviceVm, va: number): string {
  const span = vm.device.walkSpan;
  const start = va - (va % span);
  return `[${hex(start)}, ${hex(start + span)})`;
}

/** What the callbacks' flushes did to the walk cache entry of `va`: none covered it, or they were leaf-only. */
function whatFlushesDid(inv: ActiveInvalidation, dev: string, vm: number, va: number): string {
  const done = callbackActs(inv, dev, vm).completed.filter((f) => f.start <= va && va < f.end);
  if (done.length === 0) return `no completed flush of invalidation #${inv.id} covered ${hex(va)}`;
  return done.every((f) => f.leafOnly)
    ? `the callbacks' flush of ${hex(va)} was leaf-only: it evicted the TLB entry, not the walk cache's`
    : `a flush covered ${hex(va)}; the freed table was walked again afterwards`;
}

/** `64 KiB`, `2 MiB`. */
function formatSize(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`;
}

/**
 * Coverage cell keys (see `Coverage.cells`), made once per process: by the event and the three
 * flags packed in a number, then by owner match, page kind and callback outcome. Entry changes
 * reach the same few cells run after run, and a key built anew is a fresh string that each map
 * lookup must flatten and hash.
 */
const cellKeys = new Map<number, Map<string, Map<string, Map<string, string>>>>();

/** A coverage cell key (see `Coverage.cells`). */
function coverageCell(inv: ActiveInvalidation, own: string, kind: string, had: 'mapped' | 'unmapped', outcome: string): string {
  const flags = inv.event * 8 + (inv.blockable ? 4 : 0) + (had === 'mapped' ? 2 : 0) + (inv.duringFault ? 1 : 0);
  let byOwn = cellKeys.get(flags);
  if (byOwn === undefined) cellKeys.set(flags, (byOwn = new Map()));
  let byKind = byOwn.get(own);
  if (byKind === undefined) byOwn.set(own, (byKind = new Map()));
  let byOutcome = byKind.get(kind);
  if (byOutcome === undefined) byKind.set(kind, (byOutcome = new Map()));
  let key = byOutcome.get(outcome);
  if (key === undefined) {
    const blk = inv.blockable ? 'blockable' : 'nonblockable';
    key = `cell|${eventName(inv.event)}|${own}|${kind}|${blk}|${had}|${inv.duringFault ? 'fault' : 'quiet'}|${outcome}`;
    byOutcome.set(outcome, key);
  }
  return key;
}

function failed(result: string): boolean {
  return result === 'false' || (result !== 'null' && result !== '0' && result !== 'true' && /^-?\d+$/.test(result));
}

/**
 * What the notifier callbacks of `inv` did about device `dev`'s address space `vm`, as a coverage
 * outcome: `fail` (a callback refused: `false` from an interval callback, an error from
 * `invalidate_range_start`), `flush` (a device TLB flush issued), `zap` (device entries cleared or
 * write-protected, no flush), `set-seq` (only `mmu_interval_set_seq`), or `skip` (nothing).
 */
function callbackOutcome(inv: ActiveInvalidation, dev: string, vm: number): string {
  // Computed once per address space: entry changes come after the callback phase, whose events no
  // longer change.
  const known = inv.outcomes.get(vm);
  if (known !== undefined && inv.started) return known;
  const a = callbackActs(inv, dev, vm);
  const o = a.callbacks.some((c) => failed(c.result))
    ? 'fail'
    : a.issued.length > 0
      ? 'flush'
      : a.changed.length > 0
        ? 'zap'
        : a.setSeq
          ? 'set-seq'
          : 'skip';
  inv.outcomes.set(vm, o);
  return o;
}

/** The coverage cell of an entry change of a page of kind `kind` under `inv`, for address space `vm`. */
function pteCell(inv: ActiveInvalidation, vm: DeviceVm, kind: string, had: boolean): string {
  const dev = vm.device;
  const own = inv.owner === undefined || inv.owner === null ? 'none' : inv.owner === dev.owner ? 'own' : 'foreign';
  if (!inv.started) return coverageCell(inv, own, kind, had ? 'mapped' : 'unmapped', callbackOutcome(inv, dev.name, vm.id));
  // Once the start callbacks returned, only the page kind and whether the device had the page
  // vary (the owner match, blockability and callback outcome are fixed).
  let byKind = inv.pteCells.get(vm.id);
  if (byKind === undefined) {
    byKind = new Map();
    inv.pteCells.set(vm.id, byKind);
  }
  let pair = byKind.get(kind);
  if (pair === undefined) {
    const outcome = callbackOutcome(inv, dev.name, vm.id);
    pair = [coverageCell(inv, own, kind, 'unmapped', outcome), coverageCell(inv, own, kind, 'mapped', outcome)];
    byKind.set(kind, pair);
  }
  return pair[had ? 1 : 0];
}

/**
 * Coverage of an invalidation a callback refused (`invalidate_range_start_nonblock` returned
 * `-EAGAIN`, so no entry changes under it): one `fail` cell per device address space of the mm,
 * per page it translated in the range (or one `unmapped` cell when it translated none).
 */
export function coverAborted(ctx: OracleContext, id: number): void {
  const inv = ctx.invs.get(id);
  if (inv === undefined) return;
  const k = ctx.world.kernel;
  for (const vm of activeVms(ctx.world, inv.mm)) {
    const own = inv.owner === undefined || inv.owner === null ? 'none' : inv.owner === vm.device.owner ? 'own' : 'foreign';
    const outcome = callbackOutcome(inv, vm.device.name, vm.id);
    const held = [...inv.before.values()].filter((b) => b.vmId === vm.id);
    if (held.length === 0) ctx.cover(coverageCell(inv, own, pageKindFor(k, vm.mm.pte(inv.start), vm.device), 'unmapped', outcome));
    for (const b of held) {
      ctx.cover(coverageCell(inv, own, pageKindFor(k, vm.mm.pte(b.vpn * k.pageSize), vm.device), 'mapped', outcome));
    }
  }
}

/** Checks a CPU entry change made under an invalidation. */
export function checkPteChange(ctx: OracleContext, ev: PteEvent): void {
  const inv = ctx.invs.get(ev.inv);
  if (inv === undefined) return;
  const k = ctx.world.kernel;
  const vpn = Math.floor(ev.va / k.pageSize);
  const counts = ctx.counts(inv.event);
  const vms = activeVms(ctx.world, ev.mm);
  for (const vm of vms) ctx.cover(pteCell(inv, vm, pageKindFor(k, ev.old, vm.device), inv.before.has(translationKey(vm.id, vpn))));
  for (const t of translationsOf(ctx.world, ctx.stale, ev.mm, ev.va, vms)) {
    const dev = t.vm.device;
    if (cpuAllows(k, ev.new, t.entry, dev)) continue;
    const key = translationKey(t.vm.id, vpn);
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
      t.source === 'walk'
        ? `its page-walk cache still holds the freed page-table page ${tableOf(t.vm, ev.va)} that maps it (no flush of the walk cache evicted it)`
        : t.source === 'tlb' && pt !== t.entry
          ? `its TLB still holds it${inGranule(t.vm, ev.va)} (the page-table entry was ${pt === undefined ? 'cleared' : 'replaced'}${leftAt(ctx, t, vpn)})`
          : 'its page table still maps it';
    const did =
      t.source === 'walk'
        ? whatFlushesDid(inv, dev.name, t.vm.id, ev.va)
        : whatCallbacksDid(inv, dev.name, t.vm.id, ev.va, k.pageSize, dev.pageSize);
    ctx.report(
      {
        rule: 'missed-flush',
        explanation: `${dev.name} still translates ${hex(ev.va)} → ${describeEntry(t.entry)} after ${eventName(inv.event)} (${ownerOf(inv.owner)}) changed the CPU entry to ${formatPte(ev.new)}: ${how}; ${did}`,
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

/** `owner none`, `owner a Foo`, or `owner of gpu0` (not `owner owner of gpu0`). */
function ownerOf(o: unknown): string {
  const text = formatOwner(o);
  return text.startsWith('owner of ') ? text : `owner ${text}`;
}

/** When the translation `t` of page `vpn` left its page table, and that no flush removed it since. */
function leftAt(ctx: OracleContext, t: Translation, vpn: number): string {
  const step = ctx.stale.leftAt(t.vm, vpn, t.entry);
  return step === undefined ? ' but no completed flush removed it' : ` at step ${step} and no flush covering it completed after that`;
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
      ['walk', new Map(vm.freedTableEntries())],
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
