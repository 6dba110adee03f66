/**
 * Device memory back to system memory (lib/test_hmm.c): `dmirror_devmem_fault`, the pgmap's
 * `migrate_to_ram`, and `dmirror_devmem_fault_alloc_and_copy`, which `HMM_DMIRROR_MIGRATE_TO_SYS`
 * shares. Since v5.9 the MIGRATE invalidation of these migrations carries the device's own owner
 * and dmirror skips it, so the copy step erases the mirror entry itself first (`xa_erase`);
 * the v5.8 driver saw a CLEAR invalidation and erased again after `migrate_vma_pages`.
 */
import {
  MIGRATE_PFN_LOCKED,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
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
    let dpage: Page | null = null;
    if ((dmirror.flags & HMM_DMIRROR_FLAG_FAIL_ALLOC) !== 0) dmirror.flags &= ~HMM_DMIRROR_FLAG_FAIL_ALLOC;
    else dpage = k.pages.allocPage({ zero: false }); // alloc_page_vma(GFP_HIGHUSER_MOVABLE)
    if (dpage === null) return VM_FAULT_OOM;
    await k.pages.lockPage(dpage);
    args.dst[i] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE) | (dmirror.era.pfnLocked ? MIGRATE_PFN_LOCKED : 0);
    if (dmirror.era.ownerFilter) dmirror.pt.clearPte(addr, 'xa_erase');
    // copy_highpage from BACKING_PAGE(spage): the device page itself in the model.
    dmirror.mdevice.device.copyPage(dpage, spage);
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
  const start = vmf.address - (vmf.address % ps);
  const args = new MigrateVma({ vma: vmf.vma, start, end: start + ps, src: [0], dst: [0] });
  if (dmirror.era.select === 'flags') {
    args.pgmapOwner = dmirror.mdevice;
    args.flags = dmirrorSelectDevice(dmirror);
  } else {
    args.srcOwner = dmirror.mdevice;
  }
  if (dmirror.era.deviceRange) args.faultPage = vmf.page;
  // In practice migrate_vma_setup() should never fail unless the test is wrong.
  if ((await migrateVmaSetup(args)) !== 0) return VM_FAULT_SIGBUS;
  const ret = await dmirrorDevmemFaultAllocAndCopy(args, dmirror);
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
