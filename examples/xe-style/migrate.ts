/**
 * drm_pagemap (drivers/gpu/drm/drm_pagemap.c) as xe uses it: migration of a range to tile 0's
 * VRAM (`drm_pagemap_migrate_to_devmem`, behind `xe_svm_alloc_vram`), the pgmap's
 * `migrate_to_ram`, and eviction of the VRAM (`drm_pagemap_evict_to_ram`). xe filters none of
 * its own invalidations: `xe_svm_invalidate` unbinds the pages before any of them is copied.
 */
import {
  EINVAL,
  type Kernel,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  type Mm,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  type PfnArray,
  VM_FAULT_SIGBUS,
  type VmFault,
} from '@hmmlab/core';
import type { XeDevice } from './xe-svm.js';

/**
 * `drm_pagemap_migrate_to_devmem` of `[start, end)` (one range, inside one VMA): every system page
 * and hole that migrates gets a VRAM page (`populate_devmem_pfn`), filled by the copy engine or
 * cleared (`copy_to_devmem`).
 */
export async function drmPagemapMigrateToDevmem(xe: XeDevice, mm: Mm, start: number, end: number): Promise<number> {
  const k = xe.kernel;
  const tile = xe.tiles[0];
  if (tile === undefined) return -EINVAL;
  await mm.mmapLock.downRead();
  try {
    const vma = mm.findVma(start);
    if (vma === undefined || vma.end < end) return -EINVAL;
    const n = (end - start) / k.pageSize;
    const args = new MigrateVma({
      vma,
      start,
      end,
      src: new Array<number>(n).fill(0),
      dst: new Array<number>(n).fill(0),
      pgmapOwner: xe.pgmapOwner,
      flags: MIGRATE_VMA_SELECT_SYSTEM,
    });
    const r = await migrateVmaSetup(args);
    if (r !== 0) return r;
    for (let i = 0; i < args.npages; i++) {
      const s = args.src[i] as number;
      if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
      const dpage = tile.allocPage();
      if (dpage === null) break; // out of VRAM: the rest stays where it is
      const spage = migratePfnToPage(k, s);
      tile.copyPage(dpage, spage ?? k.pages.zeroPage);
      const write = (s & MIGRATE_PFN_WRITE) !== 0 || (spage === null && vma.writable);
      args.dst[i] = migratePfn(dpage.pfn) | (write ? MIGRATE_PFN_WRITE : 0);
    }
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    return 0;
  } finally {
    mm.mmapLock.upRead();
  }
}

/** `drm_pagemap_copy_to_ram`: a new system page for every VRAM page that migrates. */
async function copyToRam(k: Kernel, tile: XeDevice['tiles'][number], src: PfnArray, dst: PfnArray, npages: number): Promise<void> {
  for (let i = 0; i < npages; i++) {
    const s = src[i] as number;
    const spage = migratePfnToPage(k, s);
    if (spage === null || (s & MIGRATE_PFN_MIGRATE) === 0) continue;
    const dpage = k.pages.allocPage({ zero: false });
    await k.pages.lockPage(dpage);
    tile.copyPage(dpage, spage);
    dst[i] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE);
  }
}

/** `drm_pagemap_migrate_to_ram`: the pgmap's `migrate_to_ram`, for the page the CPU touched. */
export async function drmPagemapMigrateToRam(vmf: VmFault): Promise<number> {
  const k = vmf.mm.kernel;
  const xe = (vmf.page.pgmap as { owner: unknown } | null)?.owner as XeDevice;
  const tile = xe.tiles[0];
  if (tile === undefined) return VM_FAULT_SIGBUS;
  const start = k.pageAlignDown(vmf.address);
  const args = new MigrateVma({
    vma: vmf.vma,
    start,
    end: start + k.pageSize,
    src: [0],
    dst: [0],
    pgmapOwner: xe.pgmapOwner,
    flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
    faultPage: vmf.page,
  });
  if ((await migrateVmaSetup(args)) !== 0) return VM_FAULT_SIGBUS;
  if (args.cpages > 0) {
    await copyToRam(k, tile, args.src, args.dst, args.npages);
    await migrateVmaPages(args);
  }
  migrateVmaFinalize(args);
  return 0;
}

/**
 * `drm_pagemap_evict_to_ram`: every VRAM page in use back to system memory through
 * `migrate_device_range`, whose `try_to_migrate` sends a CLEAR per CPU mapping.
 */
export async function drmPagemapEvictToRam(xe: XeDevice): Promise<number> {
  const k = xe.kernel;
  const tile = xe.tiles[0];
  const pgmap = tile?.pgmap ?? null;
  if (tile === undefined || pgmap === null) return 0;
  const n = pgmap.nrPages;
  const src: PfnArray = new Array<number>(n).fill(0);
  const dst: PfnArray = new Array<number>(n).fill(0);
  await migrateDeviceRange(k, src, pgmap.startPfn, n);
  await copyToRam(k, tile, src, dst, n);
  await migrateDevicePages(k, src, dst, n);
  migrateDeviceFinalize(k, src, dst, n);
  return 0;
}
