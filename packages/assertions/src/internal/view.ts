/**
 * What the oracle reads of the world: the translations devices hold for a virtual address, whether
 * a CPU entry allows a translation, and the kind of a page as seen from a device.
 */
import {
  type DevPagemap,
  type Kernel,
  type Mm,
  type Page,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_MIGRATION,
  PTE_PRESENT,
  pteAccessible,
  pteKindOf,
  ptePfn,
  pteWrite,
} from '@hmmlab/core';
import {
  DEV_PTE_ATOMIC,
  DEV_PTE_WRITE,
  type Device,
  type DeviceVm,
  devPteFlags,
  devPtePfn,
  type TranslationSource,
  type World,
} from '@hmmlab/harness';
import type { StaleEntries } from './tlb-walk.js';

/** A translation a device can still use. */
export interface Translation {
  readonly vm: DeviceVm;
  readonly source: TranslationSource;
  readonly entry: number;
}

/**
 * False for an address space no device access can reach: one that was freed, or one of a binding
 * whose device accesses are syscalls while its release runs (they have all returned).
 */
function reachable(world: World, vm: DeviceVm): boolean {
  if (vm.destroyed) return false;
  const b = world.binding;
  if (world.bindingState === 'releasing' && b?.accessesAreSyscalls === true && b.vms.includes(vm)) return false;
  for (const peer of world.releasingPeers ?? []) if (peer.accessesAreSyscalls === true && peer.vms.includes(vm)) return false;
  return true;
}

/**
 * What {@link activeVms} returns when there is none (shared: nothing is made per call). Not
 * frozen: a frozen array's elements are of another kind, and loops over the lists would no longer
 * take the fast path for ordinary arrays.
 */
const NO_VMS: readonly DeviceVm[] = [];

/**
 * Device VMs mirroring the mm with this id whose device is running (not quiesced) and that a
 * device access can reach. It runs at every CPU entry change under an invalidation, and most mms
 * have none or one: those get a shared empty list or a list of one (an array grown from empty
 * reserves 17 slots).
 */
export function activeVms(world: World, mmId: number): readonly DeviceVm[] {
  let first: DeviceVm | null = null;
  let out: DeviceVm[] | null = null;
  for (const d of world.devices) {
    if (d.quiesced) continue;
    for (const vm of d.vms) {
      if (vm.mm.id !== mmId || !reachable(world, vm)) continue;
      if (first === null) first = vm;
      else (out ??= [first]).push(vm);
    }
  }
  return out ?? (first === null ? NO_VMS : [first]);
}

/**
 * Every translation of `va` held by a running device mirroring mm `mmId`: its TLB and page-table
 * entries, and entries that left the page table after its last completed flush (`stale`).
 * `vms`: those address spaces ({@link activeVms}), when the caller has them already.
 */
export function translationsOf(
  world: World,
  stale: StaleEntries,
  mmId: number,
  va: number,
  vms: readonly DeviceVm[] = activeVms(world, mmId),
): Translation[] {
  const out: Translation[] = [];
  const vpn = Math.floor(va / world.kernel.pageSize);
  for (const vm of vms) {
    const held = vm.translations(va);
    for (const t of held) out.push({ vm, source: t.source, entry: t.entry });
    for (const e of stale.of(vm, vpn)) if (!held.some((t) => t.entry === e)) out.push({ vm, source: 'tlb', entry: e });
  }
  return out;
}

/** What {@link translationsTo} looks for in one address space, and what it found. */
interface PfnSearch {
  readonly pfn: number;
  readonly ps: number;
  readonly vm: DeviceVm;
  readonly out: (Translation & { va: number })[];
}

// The `forEach` callbacks of translationsTo, with the search as `this`: it runs at every page free
// and copy, and callbacks made per call (three per address space) were most of what it allocated.
// forEach, not for-of: no entry pair built per mapped page.
function tlbTo(this: PfnSearch, e: number, vpn: number): void {
  if (devPtePfn(e) === this.pfn) this.out.push({ vm: this.vm, source: 'tlb', entry: e, va: vpn * this.ps });
}

function ptTo(this: PfnSearch, e: number, vpn: number): void {
  if (devPtePfn(e) === this.pfn) this.out.push({ vm: this.vm, source: 'pt', entry: e, va: vpn * this.ps });
}

function staleTo(this: PfnSearch, list: readonly number[], vpn: number): void {
  const vm = this.vm;
  for (const e of list)
    if (devPtePfn(e) === this.pfn && vm.tlb.get(vpn) !== e && vm.pt.get(vpn) !== e)
      this.out.push({ vm, source: 'tlb', entry: e, va: vpn * this.ps });
}

/**
 * Every translation to page `pfn` held by a running device, with the va it maps (`stale`: the
 * entries that left page tables after their last completed flush).
 */
export function translationsTo(world: World, stale: StaleEntries, pfn: number): (Translation & { va: number })[] {
  const out: (Translation & { va: number })[] = [];
  const ps = world.kernel.pageSize;
  for (const d of world.devices) {
    if (d.quiesced) continue;
    for (const vm of d.vms) {
      if (!reachable(world, vm)) continue;
      const search: PfnSearch = { pfn, ps, vm, out };
      vm.tlb.forEach(tlbTo, search);
      if (vm.walk.size > 0)
        for (const [vpn, e] of vm.freedTableEntries()) if (devPtePfn(e) === pfn) out.push({ vm, source: 'walk', entry: e, va: vpn * ps });
      vm.pt.forEach(ptTo, search);
      stale.all(vm)?.forEach(staleTo, search);
    }
  }
  return out;
}

function ownerOf(page: Page | undefined): unknown {
  return (page?.pgmap as DevPagemap | null | undefined)?.owner;
}

/**
 * True if a device-exclusive entry of `page` is `device`'s: the owner `make_device_exclusive` was
 * given is the device's pgmap owner (devices that share one share the access). The kernel keeps no
 * owner in the entry (mm/rmap.c, `page_make_device_exclusive_one`: the owner goes to the
 * `MMU_NOTIFY_EXCLUSIVE` invalidation only), so a conversion with a NULL owner, as test_hmm's, says
 * nothing of which device holds the access: every device is taken to.
 */
function exclusiveFor(page: Page | undefined, device: Device): boolean {
  const owner = page?.exclusiveOwner;
  return owner === undefined || owner === null || owner === device.owner;
}

/**
 * True if the CPU entry `pte` allows `device` a translation `entry`: same page, and at least the
 * translation's permissions. A device may use its own device-private page where the CPU has a
 * device-private entry, any page the CPU holds device-exclusive for it ({@link exclusiveFor}), and atomics only there.
 */
export function cpuAllows(k: Kernel, pte: number, entry: number, device: Device): boolean {
  const pfn = devPtePfn(entry);
  const f = devPteFlags(entry);
  const write = (f & DEV_PTE_WRITE) !== 0;
  const atomic = (f & DEV_PTE_ATOMIC) !== 0;
  if (ptePfn(pte) !== pfn) return false;
  switch (pteKindOf(pte)) {
    case PTE_PRESENT:
      return pteAccessible(pte) && !atomic && (!write || pteWrite(pte));
    case PTE_DEVICE_PRIVATE:
      return ownerOf(k.pages.pfnToPage(pfn)) === device.owner && (!write || pteWrite(pte));
    case PTE_DEVICE_EXCLUSIVE:
      return exclusiveFor(k.pages.pfnToPage(pfn), device);
    default:
      return false;
  }
}

/** The page that currently holds the data of `va` in `mm`, or 0 (unmapped, swapped). */
export function backingPfn(mm: Mm, va: number): number {
  const e = mm.pte(va);
  const kind = pteKindOf(e);
  if (kind === PTE_PRESENT || kind === PTE_DEVICE_PRIVATE || kind === PTE_DEVICE_EXCLUSIVE || kind === PTE_MIGRATION) return ptePfn(e);
  return 0;
}

/** True while some CPU entry refers to `page` as a migration entry (the page is being migrated). */
export function isMigrating(page: Page): boolean {
  for (let i = 0; i < page.rmapCount; i++) {
    const e = page.rmapMmAt(i).pte(page.rmapVaAt(i));
    if (pteKindOf(e) === PTE_MIGRATION && ptePfn(e) === page.pfn) return true;
  }
  return false;
}

/** The kind of page an entry refers to, as the coverage table counts it, relative to `device`. */
export function pageKindFor(k: Kernel, pte: number, device: Device): string {
  const kind = pteKindOf(pte);
  if (kind === 0) return 'none';
  if (kind !== PTE_PRESENT && kind !== PTE_DEVICE_PRIVATE && kind !== PTE_DEVICE_EXCLUSIVE)
    return kind === PTE_MIGRATION ? 'migrating' : 'swap';
  const page = k.pages.pfnToPage(ptePfn(pte));
  if (page === undefined) return 'none';
  if (page.isZero) return 'zero';
  if (page.isDevicePrivate) return ownerOf(page) === device.owner ? 'own-device-private' : 'foreign-device-private';
  if (page.isDeviceCoherent) return 'coherent';
  return 'system';
}

/** `pfn 12 rw` for a device entry. */
export function describeEntry(entry: number): string {
  const f = devPteFlags(entry);
  return `pfn ${devPtePfn(entry)} ${f & DEV_PTE_WRITE ? 'rw' : 'r'}${f & DEV_PTE_ATOMIC ? ' atomic' : ''}`;
}
