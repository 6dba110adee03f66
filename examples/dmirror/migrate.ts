/**
 * The migration ioctls of lib/test_hmm.c: `dmirror_migrate_to_device` (system → device memory,
 * then a read back of the whole range) and `dmirror_migrate_to_system`, with the per-chunk steps
 * they share with `migrate_vma_*`.
 */
import {
  EFAULT,
  EINVAL,
  ENOMEM,
  HPAGE_PMD_NR,
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_LOCKED,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  type Page,
} from '@hmmlab/core';
import { forEachVmaChunk } from '@hmmlab/harness';
import { dmirrorSelectDevice } from './devmem.js';
import type { Dmirror } from './dmirror.js';
import { copyToUser, dmirrorBounceInit, dmirrorDoRead, type HmmDmirrorCmd } from './rw.js';
import { HMM_DMIRROR_FLAG_FAIL_ALLOC } from './uapi.js';

/**
 * `dmirror_migrate_alloc_and_copy`: a device page for each entry that migrates, filled from the
 * source page (or cleared for a hole or the zero page). Nothing here revokes the mirror's own
 * entries of the source pages: the MIGRATE invalidation the callback skipped would have, and
 * `dmirror_migrate_finalize_and_map` only replaces them later (bug class A1).
 */
export async function dmirrorMigrateAllocAndCopy(args: MigrateVma, dmirror: Dmirror): Promise<void> {
  const mdevice = dmirror.mdevice;
  const k = mdevice.kernel;
  const ps = k.pageSize;
  const era = dmirror.era;
  for (let i = 0, addr = args.start; addr < args.end; i++, addr += ps) {
    const s = args.src[i] as number;
    if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
    // Note that spage might be NULL which is OK since it is an unallocated pte_none() or read-only zero page.
    const spage = migratePfnToPage(k, s);
    if (spage?.isZoneDevice) {
      k.warn('dmirror', `dmirror_migrate_alloc_and_copy: page already in device ${String(spage)}`);
      continue;
    }
    // This flag is only set if a whole huge page is migrated (NEWEST).
    const isHuge = (s & MIGRATE_PFN_COMPOUND) !== 0;
    let dpage: Page | null = null;
    if ((dmirror.flags & HMM_DMIRROR_FLAG_FAIL_ALLOC) !== 0) dmirror.flags &= ~HMM_DMIRROR_FLAG_FAIL_ALLOC;
    else dpage = isHuge ? mdevice.allocHugePage() : mdevice.allocPage();
    const write = (s & MIGRATE_PFN_WRITE) !== 0 || (era.holeWritable && spage === null && (args.vma?.writable ?? false));
    const flags = (write ? MIGRATE_PFN_WRITE : 0) | (era.pfnLocked ? MIGRATE_PFN_LOCKED : 0);
    if (dpage === null && isHuge) {
      // Try falling back to PAGE_SIZE pages: one destination per entry of the huge page.
      for (let j = 0; j < HPAGE_PMD_NR; j++) {
        const d = mdevice.allocPage();
        if (d === null) break;
        d.zoneDeviceData = dmirror;
        args.dst[i + j] = migratePfn(d.pfn) | flags;
        mdevice.device.copyPage(d, spage === null ? k.pages.zeroPage : k.pages.page(spage.pfn + j));
      }
      i += HPAGE_PMD_NR - 1;
      addr += (HPAGE_PMD_NR - 1) * ps;
      continue;
    }
    if (dpage === null) continue;
    const nr = isHuge ? HPAGE_PMD_NR : 1;
    for (let j = 0; j < nr; j++) {
      const d = k.pages.page(dpage.pfn + j);
      // rpage->zone_device_data = dmirror: the device page is its own backing page in the model
      // (each page of a device folio, as dmirror_devmem_folio_split gives it on a split).
      d.zoneDeviceData = dmirror;
      // copy_highpage, or clear_highpage (a copy of the zero page) for a hole.
      mdevice.device.copyPage(d, spage === null ? k.pages.zeroPage : k.pages.page(spage.pfn + j));
    }
    args.dst[i] = migratePfn(dpage.pfn) | flags | (isHuge ? MIGRATE_PFN_COMPOUND : 0);
    i += nr - 1;
    addr += (nr - 1) * ps;
  }
}

/**
 * `dmirror_migrate_finalize_and_map`: maps the new device pages in the mirror, between
 * `migrate_vma_pages` and `migrate_vma_finalize` while the pages are still locked.
 */
export async function dmirrorMigrateFinalizeAndMap(args: MigrateVma, dmirror: Dmirror): Promise<void> {
  await dmirror.mutex.lock();
  dmirrorMigrateFinalizeAndMapLocked(args, dmirror);
  dmirror.mutex.unlock();
}

/** The body of {@link dmirrorMigrateFinalizeAndMap}, with `dmirror->mutex` held. */
export function dmirrorMigrateFinalizeAndMapLocked(args: MigrateVma, dmirror: Dmirror): void {
  const k = dmirror.mdevice.kernel;
  const ps = k.pageSize;
  for (let i = 0, addr = args.start; addr < args.end; i++, addr += ps) {
    if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) === 0) continue;
    const d = args.dst[i] as number;
    const dpage = migratePfnToPage(k, d);
    if (dpage === null) continue;
    // A compound destination maps each of its pages (NEWEST: the `MIGRATE_PFN_COMPOUND` loop).
    const nr = (d & MIGRATE_PFN_COMPOUND) !== 0 ? HPAGE_PMD_NR : 1;
    for (let j = 0; j < nr; j++) {
      // BACKING_PAGE(dpage) in the kernel; the device page itself here.
      dmirror.pt.setPte(
        addr + j * ps,
        k.pages.page(dpage.pfn + j),
        { write: (d & MIGRATE_PFN_WRITE) !== 0 },
        'dmirror_migrate_finalize_and_map',
      );
    }
    i += nr - 1;
    addr += (nr - 1) * ps;
  }
}

/**
 * `dmirror_migrate_to_device` (`HMM_DMIRROR_MIGRATE_TO_DEV`; `dmirror_migrate` before v6.0):
 * migrates `[addr, addr + npages)` chunk by chunk, then reads the whole range back from the
 * mirror, so any page that did not end up mirrored makes it `-ENOENT`.
 */
export async function dmirrorMigrateToDevice(dmirror: Dmirror, cmd: HmmDmirrorCmd): Promise<number> {
  const mm = dmirror.mm;
  const ps = dmirror.mdevice.kernel.pageSize;
  const era = dmirror.era;
  const start = cmd.addr;
  const end = start + cmd.npages * ps;
  // Since the mm is for the mirrored process, get a reference first.
  if (!mm.mmgetNotZero()) return -EINVAL;
  const src: number[] = new Array(era.migrateChunk).fill(0);
  const dst: number[] = new Array(era.migrateChunk).fill(0);
  let ret = await forEachVmaChunk(mm, start, end, era.migrateChunk, async (vma, addr, next) => {
    const token = await dmirror.migrateChunkStart();
    const args = new MigrateVma({ vma, src, dst, start: addr, end: next });
    if (era.select === 'flags') {
      args.pgmapOwner = dmirror.mdevice;
      args.flags = MIGRATE_VMA_SELECT_SYSTEM | (era.compound ? MIGRATE_VMA_SELECT_COMPOUND : 0);
    }
    // v5.8: src_owner stays NULL, which selects system pages and sends no owner.
    const r = await migrateVmaSetup(args);
    if (r !== 0) return r;
    await dmirror.migrateAllocAndCopy(args);
    await migrateVmaPages(args);
    await dmirror.migrateFinalizeAndMap(args, token);
    migrateVmaFinalize(args);
    return 0;
  });
  await mm.mmput();
  if (ret !== 0) return ret;
  // Return the migrated data for verification.
  const bounce = dmirrorBounceInit(dmirror, start, cmd.npages);
  await dmirror.mutex.lock();
  ret = await dmirrorDoRead(dmirror, start, end, bounce);
  dmirror.mutex.unlock();
  if (ret === 0 && !copyToUser(cmd.ptr, bounce.ptr)) ret = -EFAULT;
  cmd.cpages = bounce.cpages;
  return ret;
}

/** `dmirror_successful_migrated_pages`: entries with a page that still migrate after `migrate_vma_pages`. */
function dmirrorSuccessfulMigratedPages(args: MigrateVma): number {
  let cpages = 0;
  for (let i = 0; i < args.npages; i++) {
    const s = args.src[i] as number;
    if ((s & MIGRATE_PFN_VALID) !== 0 && (s & MIGRATE_PFN_MIGRATE) !== 0) cpages++;
  }
  return cpages;
}

/**
 * `dmirror_migrate_to_system` (`HMM_DMIRROR_MIGRATE_TO_SYS`, v6.0+): migrates this device's
 * pages of the range back to system memory; `cpages` counts the pages that moved.
 */
export async function dmirrorMigrateToSystem(dmirror: Dmirror, cmd: HmmDmirrorCmd): Promise<number> {
  const mm = dmirror.mm;
  const ps = dmirror.mdevice.kernel.pageSize;
  const era = dmirror.era;
  const start = cmd.addr;
  const end = start + cmd.npages * ps;
  if (!mm.mmgetNotZero()) return -EINVAL;
  const src: number[] = new Array(era.migrateChunk).fill(0);
  const dst: number[] = new Array(era.migrateChunk).fill(0);
  cmd.cpages = 0;
  const ret = await forEachVmaChunk(mm, start, end, era.migrateChunk, async (vma, addr, next) => {
    const args = new MigrateVma({
      vma,
      src,
      dst,
      start: addr,
      end: next,
      pgmapOwner: dmirror.mdevice,
      flags: dmirrorSelectDevice(dmirror) | (era.compound ? MIGRATE_VMA_SELECT_COMPOUND : 0),
    });
    const r = await migrateVmaSetup(args);
    if (r !== 0) return r;
    if ((await dmirror.devmemFaultAllocAndCopy(args)) !== 0) {
      migrateVmaFinalize(args);
      return -ENOMEM;
    }
    await migrateVmaPages(args);
    cmd.cpages += dmirrorSuccessfulMigratedPages(args);
    migrateVmaFinalize(args);
    return 0;
  });
  await mm.mmput();
  return ret;
}
