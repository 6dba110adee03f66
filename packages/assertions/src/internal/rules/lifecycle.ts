/**
 * `vm-use-after-free`, `translation-after-unbind` and `leak-at-exit`: what must hold across a
 * binding's unbind and the process's end.
 * When `unbind` returns, the device holds no translation of the process (in its page table or
 * its TLB, on a running device), since nothing will revoke it any more; and no driver code touches
 * a device address space after it was freed: a notifier callback that still fires after the
 * driver freed its page table (the notifier was removed too late, or never) walks freed memory.
 */
import { hex, type Mm, type TraceEvent } from '@hmmlab/core';
import type { DeviceVm, TranslationSource } from '@hmmlab/harness';
import type { OracleContext } from '../context.js';
import { describeEntry } from '../view.js';

type VmEvent = Extract<TraceEvent, { type: 'dev-vm' }>;

function vmById(ctx: OracleContext, id: number): DeviceVm | undefined {
  for (const d of ctx.world.devices) for (const vm of d.vms) if (vm.id === id) return vm;
  return undefined;
}

/** Device address spaces' lifecycle: remembers where each was freed, and checks unbind's end and every later use. */
export class LifecycleShadow {
  /** Device VM id → step and reason it was freed. */
  private readonly freed = new Map<number, { step: number; what: string }>();
  /** A classic notifier's `release` callback returned (`exit_mmap`, or an unregister). */
  releaseRan = false;
  /** The step the main binding's `unbind` returned at, once it has. */
  private unboundAt: number | null = null;

  onVmEvent(ctx: OracleContext, ev: VmEvent): void {
    switch (ev.op) {
      case 'destroy':
        this.freed.set(ev.vm, { step: ev.step, what: ev.what });
        return;
      case 'use-after-free':
        this.useAfterFree(ctx, ev);
        return;
      case 'unbind-end':
        this.unboundAt ??= ev.step;
        checkUnbindEnd(ctx, ev);
        return;
      default:
        return;
    }
  }

  /**
   * A CPU fault on a device-private page calls its pgmap's `migrate_to_ram`, which finds the driver
   * through the page's `zone_device_data`: once the binding it points to was let go (its `unbind`
   * returned: the file's private data is freed, as `dmirror_fops_release` does `kfree(dmirror)`),
   * the fault runs on freed driver state, whatever it then touches (lib/test_hmm.c before v6.1,
   * where release did not evict the device pages).
   */
  onPrivateFault(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'private-fault' }>): void {
    const w = ctx.world;
    if (ev.phase !== 'begin' || this.unboundAt === null || w.binding === null || w.bindingState !== 'closed') return;
    const page = ctx.world.kernel.pages.pfnToPage(ev.pfn);
    if (page === undefined || (page.zoneDeviceData !== w.binding && page.folio.zoneDeviceData !== w.binding)) return;
    const vm = w.binding.vms[0];
    ctx.report(
      {
        rule: 'vm-use-after-free',
        explanation:
          `a CPU fault at ${hex(ev.va)} (mm ${ev.mm}) calls migrate_to_ram for device page pfn ${ev.pfn}, whose zone_device_data is the binding ` +
          `whose unbind returned at step ${this.unboundAt}: the fault runs on the driver's freed state. Unbind must first bring back every device ` +
          'page that points to the binding, by pfn and whichever process maps it (migrate_device_range, as dmirror_fops_release evicts its ' +
          'chunks since v6.1), or zone_device_data must point to state that outlives the file',
        mm: ev.mm,
        va: ev.va,
        pfn: ev.pfn,
        device: vm?.device ?? null,
        dedupKey: `vm-use-after-free:private-fault:${ev.pfn}`,
      },
      ev,
    );
  }

  private useAfterFree(ctx: OracleContext, ev: VmEvent): void {
    const vm = vmById(ctx, ev.vm);
    const freed = this.freed.get(ev.vm);
    const mm = vm?.mm.id ?? null;
    // The invalidation whose callbacks are running for this process, if any: the usual culprit.
    let inv = null;
    for (const i of ctx.invs.values()) if (!i.started && i.mm === mm) inv = i;
    const when = freed === undefined ? 'earlier' : `at step ${freed.step} (${freed.what})`;
    const how =
      inv === null
        ? 'driver code still reaches it after its binding let it go'
        : `a callback of the ${inv.id >= 0 ? `invalidation #${inv.id}` : 'invalidation'} still reaches it: ${removalAdvice(ctx)}`;
    ctx.report(
      {
        rule: 'vm-use-after-free',
        explanation: `${ev.dev} vm ${ev.vm}: ${ev.what} on a device address space freed ${when}; ${how}`,
        mm,
        device: vm?.device ?? null,
        inv,
        dedupKey: `vm-use-after-free:${ev.vm}`,
      },
      ev,
    );
  }
}

/**
 * What must come before the page table is freed, for the kind of notifier whose callback reached
 * it: `mmu_interval_notifier_remove` waits for the interval callbacks in flight, and
 * `mmu_notifier_unregister` for the classic ones (`synchronize_srcu`), where `mmu_notifier_put`
 * does not wait and leaves the freeing to the `free_notifier` op (mm/mmu_notifier.c).
 */
function removalAdvice(ctx: OracleContext): string {
  const contexts = ctx.world.kernel.sched.current.contexts;
  const cb = contexts[contexts.length - 1] ?? '';
  if (cb.startsWith('mmu notifier'))
    return 'the notifier must be unregistered first (mmu_notifier_unregister waits for callbacks in flight; after mmu_notifier_put, free it in the free_notifier op, which runs once they are done)';
  return 'the notifier must be removed (mmu_interval_notifier_remove waits for callbacks in flight) before the page table is freed';
}

/** `unbind` returned: a running device must hold no translation of the process any more. */
function checkUnbindEnd(ctx: OracleContext, ev: VmEvent): void {
  const vm = vmById(ctx, ev.vm);
  if (vm === undefined || vm.destroyed || vm.device.quiesced) return;
  const ps = ctx.world.kernel.pageSize;
  const left: { source: TranslationSource; vpn: number; entry: number }[] = [];
  for (const [vpn, entry] of vm.pt) left.push({ source: 'pt', vpn, entry });
  for (const [vpn, entry] of vm.tlb) left.push({ source: 'tlb', vpn, entry });
  for (const [vpn, entry] of vm.freedTableEntries()) left.push({ source: 'walk', vpn, entry });
  const first = left[0];
  if (first === undefined) return;
  const pages = new Set(left.map((t) => t.vpn)).size;
  ctx.report(
    {
      rule: 'translation-after-unbind',
      explanation: `${ev.dev} vm ${ev.vm} still translates ${pages} page(s) when unbind returns, first ${hex(first.vpn * ps)} → ${describeEntry(first.entry)} (${first.source}): no invalidation will revoke ${pages === 1 ? 'it' : 'them'} now; clear the page table and flush the TLB (or stop the device) before the notifier goes`,
      mm: vm.mm.id,
      va: first.vpn * ps,
      device: vm.device,
      translations: left.map((t) => ({ device: ev.dev, vm: ev.vm, source: t.source, va: t.vpn * ps, entry: describeEntry(t.entry) })),
      dedupKey: `translation-after-unbind:${ev.vm}`,
    },
    ev,
  );
}

/**
 * Notifiers left on `mm` once every device file is closed. `mmu_interval_notifier_insert` takes a
 * reference on the mm (`mmgrab` in `__mmu_interval_notifier_insert`, mm/mmu_notifier.c) that only
 * `mmu_interval_notifier_remove` drops, and `exit_mmap` only invalidates interval notifiers
 * (`mn_itree_release`), it does not remove them; `mmu_notifier_register` takes one that only
 * `mmu_notifier_unregister` or the last `mmu_notifier_put` drops. One not dropped keeps the
 * mm_struct forever, and a notifier not removed stays linked in the mm's interval tree after the
 * driver freed it with its object at release: a later invalidation of its range calls into freed
 * memory.
 */
function checkNotifiersLeft(ctx: OracleContext, mm: Mm, at: TraceEvent, teardown: string): void {
  const subs = mm.notifierSubscriptions;
  if (subs === null) return;
  const left = [...new Set([...subs.itree.all(), ...subs.deferredList])].filter((n) => n.mm === mm);
  // Interval notifiers hold one reference each; the rest of those above the mm's own are classic ones'.
  const classic = mm.count - 1 - left.length;
  if (left.length === 0 && classic <= 0) return;
  const named = left.slice(0, 3).map((n) => `"${n.name}" [${hex(n.start)}, ${hex(n.last + 1)})`);
  const what = [
    ...(left.length > 0
      ? [
          `${left.length} interval notifier(s) still inserted (${named.join(', ')}${left.length > 3 ? ', …' : ''}): mmu_interval_notifier_insert took a reference on the mm (mmgrab) that only mmu_interval_notifier_remove drops, and exit_mmap does not remove them, so each stays linked in the mm's interval tree after the driver freed it at release`,
        ]
      : []),
    ...(classic > 0
      ? [
          `${classic} mmu_notifier registration(s) never dropped: mmu_notifier_register (or _get) took a reference on the mm that only mmu_notifier_unregister (or the last mmu_notifier_put) drops`,
        ]
      : []),
  ];
  ctx.report(
    {
      rule: 'leak-at-exit',
      explanation: `mm ${mm.id}: every process exited and ${teardown}, yet the driver's notifiers still hold it: ${what.join('; ')}. The mm_struct is never freed; remove every notifier the driver inserted, on every path (an error path, or a notifier that lost an insertion race, included)`,
      mm: mm.id,
      task: null,
      dedupKey: `leak-at-exit:notifiers:${mm.id}`,
    },
    at,
  );
}

/**
 * `leak-at-exit`, at the end of a run that ended as a program ends (`Scenario.exitAtEnd`): every
 * process exited and every device file closed, so nothing may hold a device page or an address
 * space any more.
 * - A device page still referenced: `zone_device_page_init` took a reference on the pagemap for
 *   it that only its free drops (`free_zone_device_page`), and `memunmap_pages` waits for every one
 *   (`wait_for_completion(&pgmap->done)`, mm/memremap.c), so the device can never be removed.
 * - An address space that was not torn down: an `mmget` without its `mmput`, so `exit_mmap`
 *   never runs and the process's memory is never freed (kernel/fork.c, `mmput`).
 * - Once the driver's teardown ran (its unbind, or `releaseRan`: its classic notifier's release),
 *   a notifier it inserted or registered and never removed (`checkNotifiersLeft`).
 */
export function checkLeaksAtExit(ctx: OracleContext, at: TraceEvent, releaseRan = false): void {
  const world = ctx.world;
  if (world.scenario.exitAtEnd !== true || world.processes.some((p) => world.exited?.has(p) !== true)) return;
  for (const mm of world.processes) {
    if (mm.dead) continue;
    ctx.report(
      {
        rule: 'leak-at-exit',
        explanation: `mm ${mm.id} was never torn down: its process exited and the device files are closed, yet a reference on it (mm_users) was never dropped, so exit_mmap never runs; pair every mmget_not_zero with an mmput`,
        mm: mm.id,
        task: null,
        dedupKey: `leak-at-exit:mm:${mm.id}`,
      },
      at,
    );
  }
  const closed = world.bindingState === 'closed' || world.binding?.unbind === undefined;
  if (!closed || (world.peers !== undefined && world.peers.size > 0)) return;
  // Only a driver whose teardown ran had the chance to remove its notifiers: its unbind, or, for
  // a driver that defines none and lives as long as the mm (amdkfd's kfd_process), the release
  // callback of its classic notifier. A driver with neither has no teardown to judge.
  const teardown =
    world.bindingState === 'closed' ? 'every device file is closed' : releaseRan ? "the driver's release notifier ran" : null;
  if (teardown !== null) for (const mm of world.processes) checkNotifiersLeft(ctx, mm, at, teardown);
  const pages = world.kernel.pages;
  checkSystemPagesLeft(ctx, at);
  checkDmaLeft(ctx, at);
  for (const device of world.devices) {
    const pgmap = device.pgmap;
    if (pgmap === null) continue;
    // A page whose struct page was never made was never handed out.
    const held = pages
      .peekRange(pgmap.startPfn, pgmap.nrPages)
      .filter((p) => p.refcount > 0)
      .map((p) => p.pfn);
    const first = held[0];
    if (first === undefined) continue;
    ctx.report(
      {
        rule: 'leak-at-exit',
        explanation: `${device.name}: ${held.length} device page(s) still referenced after every process exited and every device file closed, first pfn ${first}${held.length > 1 ? `, last pfn ${held.at(-1)}` : ''}: no mapping or user is left to free ${held.length === 1 ? 'it' : 'them'}, and memunmap_pages waits for every device page, so the device can never be removed; free what a failed or partial migration allocated, and drop the driver's own references at release`,
        pfn: first,
        device,
        task: null,
        dedupKey: `leak-at-exit:${device.name}`,
      },
      at,
    );
  }
}

/**
 * System pages still allocated once every process exited and every device file closed, beyond a
 * page cache's own reference: nothing maps them and no process is left to free them, so a
 * reference was taken (`get_page`, a pin, a page kept from `hmm_range_fault` or a migration) and
 * never dropped. The kernel keeps such a page for ever.
 */
function checkSystemPagesLeft(ctx: OracleContext, at: TraceEvent): void {
  // An address space never torn down still maps its pages: that leak is reported as the mm's.
  if (ctx.world.processes.some((p) => !p.dead)) return;
  const pages = ctx.world.kernel.pages;
  const held: number[] = [];
  for (const p of pages.peekRange(1, pages.pfnCount)) {
    if (p.kind !== 'system' || p.free) continue;
    if (p.refcount <= (p.file === null ? 0 : 1)) continue;
    held.push(p.pfn);
  }
  const first = held[0];
  if (first === undefined) return;
  const page = pages.page(first);
  ctx.report(
    {
      rule: 'leak-at-exit',
      explanation: `${held.length} system page(s) still referenced after every process exited and every device file closed, first pfn ${first} (refcount ${page.refcount}, mapcount ${page.mapcount}${page.file === null ? '' : ', in a page cache'})${held.length > 1 ? `, last pfn ${held.at(-1)}` : ''}: no mapping or process is left to free ${held.length === 1 ? 'it' : 'them'}; drop every reference the driver took (put_page after get_page, unpin after a pin)`,
      pfn: first,
      task: null,
      dedupKey: 'leak-at-exit:system-pages',
    },
    at,
  );
}

/**
 * DMA mappings still in place once every process exited and every device file closed: the
 * driver tore its mappings down on no path that reached them (`dma_unmap_page` after each
 * `dma_map_page`), so the IOMMU keeps the page reachable by the device; a mapping of a page that
 * is never freed (a page-cache page) is found by nothing else.
 */
function checkDmaLeft(ctx: OracleContext, at: TraceEvent): void {
  for (const device of ctx.world.devices) {
    const first = device.dma.keys().next();
    if (first.done === true) continue;
    const pfns = [...device.dma.keys()];
    ctx.report(
      {
        rule: 'leak-at-exit',
        explanation: `${device.name}: ${pfns.length} DMA mapping(s) still in place after every process exited and every device file closed, first pfn ${first.value}${pfns.length > 1 ? `, last pfn ${pfns.at(-1)}` : ''}: the device can still reach ${pfns.length === 1 ? 'that page' : 'those pages'} through the IOMMU; unmap every page the driver DMA-mapped, on every path (an error path, a page it skipped) and at release`,
        pfn: first.value,
        device,
        task: null,
        dedupKey: `leak-at-exit:dma:${device.name}`,
      },
      at,
    );
  }
}
