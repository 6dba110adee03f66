/**
 * Device memory back to system memory (lib/test_hmm.c): `dmirror_devmem_fault`, the pgmap's
 * `migrate_to_ram`, and `dmirror_devmem_fault_alloc_and_copy`, which `HMM_DMIRROR_MIGRATE_TO_SYS`
 * shares. Since v5.9 the MIGRATE invalidation of these migrations carries the device's own owner
 * and dmirror skips it, so the copy step erases the mirror entry itself first (`xa_erase`);
 * the v5.8 driver saw a CLEAR invalidation and erased again after `migrate_vma_pages`.
 */
import {
  HPAGE_PMD_ORDER,
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_LOCKED,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MigrateVma,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  type Page,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  type VmFault,
} from '@hmmlab/core';
import type { Dmirror } from './dmirror.js';
import { HMM_DMIRROR_FLAG_FAIL_ALLOC } from './uapi.js';

/** `dmirror_select_device`. */
export function dmirrorSelectDevice(dmirror: Dmirror): number {
  return dmirror.mdevice.zoneDeviceType === 'private' ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE : MIGRATE_VMA_SELECT_DEVICE_COHERENT;
}

/** `dmirror_devmem_fault_alloc_and_copy`: a system page for each device page that migrates. */
export async function dmirrorDevmemFaultAllocAndCopy(args: MigrateVma, dmirror: Dmirror): Promise<number> {
  const k = dmirror.mdevice.kernel;
  const ps = k.pageSize;
  for (let i = 0, addr = args.start; addr < args.end; i++, addr += ps) {
    const s = args.src[i] as number;
    const spage = migratePfnToPage(k, s);
    if (spage === null || (s & MIGRATE_PFN_MIGRATE) === 0) continue;
    if (!spage.isDevicePrivate && !spage.isDeviceCoherent) {
      k.warn('dmirror', `dmirror_devmem_fault_alloc_and_copy: ${String(spage)} is not a device page`);
      continue;
    }
    // NEWEST: a compound entry is a whole device folio; it moves to a THP, or to base pages
    // when that allocation fails.
    const order = (s & MIGRATE_PFN_COMPOUND) !== 0 ? HPAGE_PMD_ORDER : 0;
    const flags = (s & MIGRATE_PFN_WRITE) | (dmirror.era.pfnLocked ? MIGRATE_PFN_LOCKED : 0);
    let dpage: Page | null = null;
    if ((dmirror.flags & HMM_DMIRROR_FLAG_FAIL_ALLOC) !== 0) dmirror.flags &= ~HMM_DMIRROR_FLAG_FAIL_ALLOC;
    else if (order > 0)
      dpage = k.pages.allocFolio(order); // vma_alloc_folio(order)
    else dpage = k.pages.allocPage({ zero: false }); // alloc_page_vma(GFP_HIGHUSER_MOVABLE)
    if (dpage === null && order === 0) return VM_FAULT_OOM;
    const nr = 2 ** order;
    for (let j = 0; j < nr; j++) {
      let d: Page;
      if (dpage === null) {
        // Fall back to PAGE_SIZE pages, one destination per entry.
        d = k.pages.allocPage({ zero: false });
        await k.pages.lockPage(d);
        args.dst[i + j] = migratePfn(d.pfn) | flags;
      } else {
        d = k.pages.page(dpage.pfn + j);
        if (j === 0) {
          await k.pages.lockPage(d);
          args.dst[i] = migratePfn(d.pfn) | flags | (order > 0 ? MIGRATE_PFN_COMPOUND : 0);
        }
      }
      if (dmirror.era.ownerFilter) dmirror.pt.clearPte(addr + j * ps, 'xa_erase');
      // copy_highpage from BACKING_PAGE(spage): the device page itself in the model.
      dmirror.mdevice.device.copyPage(d, k.pages.page(spage.pfn + j));
    }
    i += nr - 1;
    addr += (nr - 1) * ps;
  }
  return 0;
}

/**
 * `dmirror_devmem_fault`: the CPU touched a device-private page; the dmirror that migrated it is
 * found through `zone_device_data` (of the backing page in the kernel, of the page itself here).
 */
export async function dmirrorDevmemFault(vmf: VmFault): Promise<number> {
  const dmirror = vmf.page.zoneDeviceData as Dmirror | null;
  if (dmirror === null) return VM_FAULT_SIGBUS;
  const ps = dmirror.mdevice.kernel.pageSize;
  // NEWEST: a fault on a device-private PMD migrates the whole folio; on a PTE, one page.
  const nr = vmf.pmd === true ? 2 ** vmf.page.folio.order : 1;
  const start = vmf.address - (vmf.address % (nr * ps));
  const args = new MigrateVma({ vma: vmf.vma, start, end: start + nr * ps, src: new Array(nr).fill(0), dst: new Array(nr).fill(0) });
  if (dmirror.era.select === 'flags') {
    args.pgmapOwner = dmirror.mdevice;
    args.flags = dmirrorSelectDevice(dmirror) | (dmirror.era.compound ? MIGRATE_VMA_SELECT_COMPOUND : 0);
  } else {
    args.srcOwner = dmirror.mdevice;
  }
  if (dmirror.era.deviceRange) args.faultPage = vmf.page;
  // In practice migrate_vma_setup() should never fail unless the test is wrong.
  if ((await migrateVmaSetup(args)) !== 0) return VM_FAULT_SIGBUS;
  const ret = await dmirror.devmemFaultAllocAndCopy(args);
  if (ret !== 0) {
    migrateVmaFinalize(args);
    return ret;
  }
  await migrateVmaPages(args);
  if (!dmirror.era.ownerFilter) {
    // v5.8 dmirror_devmem_fault_finalize_and_map: invalidate the device's page table mapping.
    await dmirror.mutex.lock();
    dmirror.doUpdate(args.start, args.end);
    dmirror.mutex.unlock();
  }
  migrateVmaFinalize(args);
  return 0;
}
