/**
 * ZONE_DEVICE memory (mm/memremap.c, include/linux/memremap.h): `memremap_pages` creates the
 * struct pages of a device-private or device-coherent range with an owner and ops; the driver
 * allocates from them with `zone_device_page_init` and gets them back in `page_free`.
 */
import { HmmlabError } from '../errors.js';
import type { Kernel } from '../kernel.js';
import type { Mm } from '../mm/mm.js';
import type { Page, PagemapRef } from '../mm/page.js';
import type { Vma } from '../mm/vma.js';
import { DriverCallbackError } from '../sched/scheduler.js';

/** `MEMORY_DEVICE_PRIVATE`: the CPU can neither read nor write the memory. */
export const MEMORY_DEVICE_PRIVATE = 1;
/** `MEMORY_DEVICE_COHERENT`: CPU-coherent device memory (v6.0+). */
export const MEMORY_DEVICE_COHERENT = 2;

/** `struct vm_fault`, as `migrate_to_ram` receives it. */
export interface VmFault {
  /** The faulting address space. */
  readonly mm: Mm;
  /** The VMA of the faulting address. */
  readonly vma: Vma;
  /** The faulting address. */
  readonly address: number;
  /** The device-private page the CPU entry points at. */
  readonly page: Page;
  /** True for a write fault (`FAULT_FLAG_WRITE`). */
  readonly write: boolean;
  /**
   * Profile `latest`: true when the CPU touched a device-private PMD (mm/huge_memory.c
   * `do_huge_pmd_device_private`, where `vmf->pte` is NULL); `page` is then the head of the
   * PMD-sized device folio, and the whole folio is the driver's to migrate.
   */
  readonly pmd?: boolean;
}

/** `struct dev_pagemap_ops`. */
export interface DevPagemapOps {
  /** Called when a page's refcount drops to zero: give it back to the driver's allocator. */
  pageFree(page: Page): void;
  /**
   * Device-private only: migrate the page `vmf.page` back to system memory. Return 0 (the fault
   * is retried) or `VM_FAULT_*` bits; device-to-system migration must not be refused.
   */
  migrateToRam?(vmf: VmFault): number | Promise<number>;
}

/** Options of {@link memremapPages}. */
export interface MemremapOptions {
  /** `MEMORY_DEVICE_PRIVATE` or `MEMORY_DEVICE_COHERENT`. */
  type: typeof MEMORY_DEVICE_PRIVATE | typeof MEMORY_DEVICE_COHERENT;
  /** Opaque owner; drivers compare it with `range.owner` and `devPrivateOwner`. */
  owner: unknown;
  /** Number of pages in the range. */
  nrPages: number;
  /** The pagemap's callbacks. */
  ops: DevPagemapOps;
  /** Name for traces. */
  name: string;
}

/** `struct dev_pagemap`. */
export class DevPagemap implements PagemapRef {
  /** `MEMORY_DEVICE_PRIVATE` or `MEMORY_DEVICE_COHERENT`, by name. */
  readonly type: 'private' | 'coherent';
  /** Opaque owner, as given to {@link memremapPages}. */
  readonly owner: unknown;
  /** The pagemap's callbacks (`pgmap->ops`). */
  readonly ops: DevPagemapOps;
  /** Name for traces. */
  readonly name: string;
  /** First pfn of the range. */
  readonly startPfn: number;
  /** Pages in the range. */
  readonly nrPages: number;
  /** The kernel the pages belong to. */
  readonly kernel: Kernel;
  /** @internal */
  unmapped = false;

  constructor(kernel: Kernel, o: MemremapOptions) {
    this.kernel = kernel;
    this.type = o.type === MEMORY_DEVICE_PRIVATE ? 'private' : 'coherent';
    this.owner = o.owner;
    this.ops = o.ops;
    this.name = o.name;
    this.nrPages = o.nrPages;
    this.startPfn = kernel.pages.reserveDevicePages(o.nrPages, this.type === 'private' ? 'device-private' : 'device-coherent', this);
  }

  /** Page `i` of the range (`pfn_to_page(startPfn + i)`). */
  page(i: number): Page {
    return this.kernel.pages.page(this.startPfn + i);
  }

  /** Every page of the range, in pfn order (creates each struct page: prefer {@link DevPagemap.page}). */
  get pages(): readonly Page[] {
    const out: Page[] = [];
    for (let i = 0; i < this.nrPages; i++) out.push(this.page(i));
    return out;
  }

  /** @internal `free_zone_device_folio` → `ops.page_free`. */
  freePage(page: Page): void {
    try {
      this.ops.pageFree(page);
    } catch (e) {
      throw new DriverCallbackError(`pgmap "${this.name}" page_free`, e);
    }
  }
}

/**
 * `memremap_pages`: creates a device memory range. Like the kernel, refuses (its `-EINVAL`) a
 * private pgmap without `migrateToRam`, any pgmap without `pageFree` or without an owner.
 */
export function memremapPages(kernel: Kernel, options: MemremapOptions): DevPagemap {
  const { type, owner, nrPages, ops, name } = options;
  if (type !== MEMORY_DEVICE_PRIVATE && type !== MEMORY_DEVICE_COHERENT) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `memremap_pages(${name}): type ${String(type)}; expected MEMORY_DEVICE_PRIVATE or MEMORY_DEVICE_COHERENT`,
    );
  }
  if (type === MEMORY_DEVICE_COHERENT && !kernel.profile.deviceCoherent) {
    throw new HmmlabError(
      'ERR_PROFILE',
      `memremap_pages(${name}): MEMORY_DEVICE_COHERENT does not exist in profile ${kernel.profile.name} (added in v6.0); use profile 6.1 or latest`,
    );
  }
  if (!Number.isInteger(nrPages) || nrPages <= 0) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `memremap_pages(${name}): nrPages ${String(nrPages)} must be a positive integer`);
  }
  if (owner === undefined || owner === null) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `memremap_pages(${name}): missing owner (the kernel WARNs "Missing owner" and returns -EINVAL); pass the value your driver compares range.owner with`,
    );
  }
  if (typeof ops?.pageFree !== 'function') {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `memremap_pages(${name}): missing ops.pageFree (the kernel returns -EINVAL)`);
  }
  if (type === MEMORY_DEVICE_PRIVATE && typeof ops.migrateToRam !== 'function') {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `memremap_pages(${name}): a device-private pgmap needs ops.migrateToRam ("Missing migrate_to_ram method", -EINVAL)`,
    );
  }
  return new DevPagemap(kernel, options);
}

/**
 * `memunmap_pages`: removes the range. Every page must be free: evict them first (for instance
 * with `migrateDeviceRange`), otherwise the kernel would wait forever for the references.
 */
export function memunmapPages(pgmap: DevPagemap): void {
  // A page whose struct page was never made was never handed out.
  const busy = pgmap.kernel.pages.peekRange(pgmap.startPfn, pgmap.nrPages).filter((p) => !p.free);
  if (busy.length > 0) {
    throw new HmmlabError(
      'ERR_STATE',
      `memunmap_pages(${pgmap.name}): ${busy.length} page(s) still in use (first: pfn ${(busy[0] as Page).pfn}, refcount ${(busy[0] as Page).refcount}); migrate them to system memory first`,
    );
  }
  pgmap.unmapped = true;
}

/**
 * `zone_device_page_init`: the driver hands out a free page of its pgmap: refcount 1, locked by
 * the calling task, as migration destinations must be.
 */
export function zoneDevicePageInit(page: Page): void {
  const pgmap = page.pgmap;
  if (pgmap === null) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `zone_device_page_init: ${String(page)} is not a ZONE_DEVICE page`);
  }
  if (!page.free) {
    throw new HmmlabError(
      'ERR_STATE',
      `zone_device_page_init: ${String(page)} is in use (refcount ${page.refcount}); take pages only from your free list`,
    );
  }
  const k = (pgmap as DevPagemap).kernel;
  k.pages.initDevicePage(page);
  k.pages.trylockPage(page);
}

/**
 * `zone_device_folio_init(folio, order)` (mm/memremap.c, the newest tree; profile `latest` only):
 * like {@link zoneDevicePageInit} for the `2^order` free pages of one pgmap from `head`, which
 * become one device folio (`prep_compound_page`), locked by the calling task. `head`'s pfn must be
 * a multiple of `2^order` (a PMD-sized device-private folio is mapped by one PMD).
 */
export function zoneDeviceFolioInit(head: Page, order: number): void {
  const pgmap = head.pgmap as DevPagemap | null;
  if (pgmap === null) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `zone_device_folio_init: ${String(head)} is not a ZONE_DEVICE page`);
  }
  const k = pgmap.kernel;
  if (!k.profile.deviceThp && order > 0) {
    throw new HmmlabError('ERR_PROFILE', `zone_device_folio_init: large device folios do not exist in profile ${k.profile.name}`);
  }
  const n = 2 ** order;
  if (!Number.isInteger(order) || order < 0 || head.pfn % n !== 0) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `zone_device_folio_init: order ${String(order)} needs a head pfn aligned to ${n}; ${String(head)} is not`,
    );
  }
  const pages: Page[] = [];
  for (let i = 0; i < n; i++) {
    const p = head.pfn + i < pgmap.startPfn + pgmap.nrPages ? k.pages.page(head.pfn + i) : undefined;
    if (p === undefined || !p.free) {
      throw new HmmlabError(
        'ERR_STATE',
        `zone_device_folio_init: pfn ${head.pfn + i} is ${p === undefined ? 'outside the pgmap' : `in use (refcount ${p.refcount})`}; a folio of order ${order} needs ${n} free pages of one pgmap`,
      );
    }
    pages.push(p);
  }
  for (const p of pages) k.pages.initDevicePage(p);
  k.pages.prepCompound(head, order);
  k.pages.trylockPage(head);
}
