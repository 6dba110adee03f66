/**
 * `struct dmirror_device` (lib/test_hmm.c): one /dev/hmm_dmirrorN with its ZONE_DEVICE memory,
 * device-private (dmirror0, 1) or device-coherent (dmirror2, 3). It is a harness {@link Device}
 * without a TLB: test_hmm's "device" is the CPU touching pages through kmap, so a cleared mirror
 * entry is gone at once.
 *
 * Model difference: test_hmm backs each device-private page with a system "backing page"
 * (`zone_device_data`, `BACKING_PAGE()`) and copies to and maps that page. Model device pages
 * have contents of their own, so the port copies to, and mirrors, the device page itself.
 */
import {
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  type Kernel,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  type Mutex,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migratePfn,
  migratePfnToPage,
  type Page,
  zoneDeviceFolioInit,
} from '@hmmlab/core';
import { Device } from '@hmmlab/harness';
import { dmirrorDevmemFault } from './devmem.js';
import type { DmirrorEra } from './era.js';

/**
 * Pages of device memory per device. The kernel adds 256 MiB chunks on demand
 * (`dmirror_allocate_chunk`); the model's device has one fixed range, large enough for the
 * kernel's 1024-page test buffers.
 */
export const DEVMEM_CHUNK_PAGES = 1024;

/** `struct dmirror_device`: the pgmap owner of its memory is this object, as `pagemap.owner = mdevice`. */
export class DmirrorDevice {
  readonly id: number;
  /** `zone_device_type`: `HMM_DMIRROR_MEMORY_DEVICE_PRIVATE` or `_COHERENT`. */
  readonly zoneDeviceType: 'private' | 'coherent';
  readonly kernel: Kernel;
  readonly era: DmirrorEra;
  /** The device, without a TLB, owning the memory range. */
  readonly device: Device;
  /** `devmem_lock`. */
  readonly devmemLock: Mutex;

  constructor(kernel: Kernel, id: number, type: 'private' | 'coherent', era: DmirrorEra) {
    this.id = id;
    this.zoneDeviceType = type;
    this.kernel = kernel;
    this.era = era;
    this.devmemLock = kernel.mutex(`hmm_dmirror${id} devmem_lock`);
    this.device = new Device(kernel, {
      name: `hmm_dmirror${id}`,
      owner: this,
      tlb: false,
      // Device atomics need a DPT_XA_TAG_ATOMIC entry, which only dmirror_exclusive stores.
      atomics: 'exclusive',
      memory: { type, pages: DEVMEM_CHUNK_PAGES, migrateToRam: (vmf) => dmirrorDevmemFault(vmf) },
    });
  }

  /**
   * `dmirror_devmem_alloc_page` (order 0): a free device page, locked with refcount 1
   * (`zone_device_folio_init`), or null once the memory is used up (where the kernel would try
   * `dmirror_allocate_chunk`).
   */
  allocPage(): Page | null {
    return this.device.allocPage();
  }

  /**
   * `dmirror_devmem_alloc_page(mdevice, true)` (NEWEST): a free PMD-sized device folio, locked
   * with refcount 1 (`zone_device_folio_init`), or null when no aligned run of `HPAGE_PMD_NR` free
   * pages is left (the kernel's huge free list is the chunk's aligned runs).
   */
  allocHugePage(): Page | null {
    const free = this.device.freePages;
    const set = new Set(free);
    for (const pfn of free) {
      if (pfn % HPAGE_PMD_NR !== 0) continue;
      let all = true;
      for (let j = 1; j < HPAGE_PMD_NR && all; j++) all = set.has(pfn + j);
      if (!all) continue;
      const taken = new Set<number>();
      for (let j = 0; j < HPAGE_PMD_NR; j++) taken.add(pfn + j);
      const rest = free.filter((f) => !taken.has(f));
      free.length = 0;
      free.push(...rest);
      const head = this.kernel.pages.page(pfn);
      zoneDeviceFolioInit(head, HPAGE_PMD_ORDER);
      return head;
    }
    return null;
  }

  /**
   * `dmirror_device_evict_chunk`: every in-use page of the range goes back to system memory
   * through `migrate_device_range` (best effort: pages it cannot lock stay).
   */
  async evictChunk(): Promise<void> {
    const k = this.kernel;
    const pgmap = this.device.pgmap;
    if (pgmap === null) return;
    const npages = pgmap.nrPages;
    const src: number[] = new Array(npages).fill(0);
    const dst: number[] = new Array(npages).fill(0);
    await migrateDeviceRange(k, src, pgmap.startPfn, npages);
    for (let i = 0; i < npages; i++) {
      const s = src[i] as number;
      const spage = migratePfnToPage(k, s);
      if (spage === null || (s & MIGRATE_PFN_MIGRATE) === 0) continue;
      if (!spage.isDevicePrivate && !spage.isDeviceCoherent) {
        k.warn('dmirror', `dmirror_device_evict_chunk: ${String(spage)} is not a device page`);
        continue;
      }
      // alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL); lock_page
      const dpage = k.pages.allocPage({ zero: false });
      await k.pages.lockPage(dpage);
      dst[i] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE);
      this.device.copyPage(dpage, spage);
    }
    await migrateDevicePages(k, src, dst, npages);
    migrateDeviceFinalize(k, src, dst, npages);
  }

  /**
   * `dmirror_device_remove_chunks` (`HMM_DMIRROR_RELEASE`): evicts the memory. The kernel then
   * `memunmap_pages` the chunk and allocates a fresh one on the next migration; the model keeps
   * its one range, whose pages come back to the free list as they are freed.
   */
  async removeChunks(): Promise<void> {
    await this.devmemLock.lock();
    try {
      await this.evictChunk();
    } finally {
      this.devmemLock.unlock();
    }
  }

  toString(): string {
    return this.device.name;
  }
}
