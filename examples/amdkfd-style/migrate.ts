/**
 * VRAM migration (drivers/gpu/drm/amd/amdkfd/kfd_migrate.c): `svm_migrate_ram_to_vram`,
 * `svm_migrate_vram_to_ram` and the pgmap's `svm_migrate_to_ram`. The hive is the pgmap owner of
 * every GPU's VRAM. KFD does not filter its own `MMU_NOTIFY_MIGRATE`: the range callback unmaps
 * (XNACK on) or evicts (XNACK off) before `migrate_vma_setup` changes a CPU entry, so the copy
 * never races a GPU access.
 */
import {
  EINVAL,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  type Page,
  type PfnArray,
  VM_FAULT_SIGBUS,
  type Vma,
  type VmFault,
} from '@hmmlab/core';
import { forEachVmaChunk } from '@hmmlab/harness';
import type { KfdHive } from './kfd.js';
import type { KfdProcess } from './process.js';

/** Pages per `migrate_vma_setup` call. */
const MIGRATE_CHUNK_PAGES = 16;

function migrateArgs(hive: KfdHive, vma: Vma, start: number, end: number, flags: number): MigrateVma {
  const n = (end - start) / hive.kernel.pageSize;
  return new MigrateVma({
    vma,
    start,
    end,
    src: new Array<number>(n).fill(0),
    dst: new Array<number>(n).fill(0),
    pgmapOwner: hive.pgmapOwner,
    flags,
  });
}

/** `svm_migrate_vma_to_vram`: system pages of one VMA chunk to GPU 0's VRAM (`svm_migrate_copy_to_vram`). */
async function migrateVmaToVram(hive: KfdHive, vma: Vma, start: number, end: number): Promise<number> {
  const gpu = hive.gpus[0];
  if (gpu === undefined) return -EINVAL;
  const args = migrateArgs(hive, vma, start, end, MIGRATE_VMA_SELECT_SYSTEM);
  const r = await migrateVmaSetup(args);
  if (r !== 0) return r;
  for (let i = 0; i < args.npages; i++) {
    const s = args.src[i] as number;
    const spage = migratePfnToPage(hive.kernel, s);
    // Holes and the zero page stay where they are.
    if (spage === null || (s & MIGRATE_PFN_MIGRATE) === 0) continue;
    const dpage = gpu.allocPage();
    if (dpage === null) break; // VRAM full: the rest stays in system memory
    gpu.copyPage(dpage, spage);
    args.dst[i] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE);
  }
  await migrateVmaPages(args);
  migrateVmaFinalize(args);
  return 0;
}

/** `svm_migrate_copy_to_ram`: a new system page for every VRAM page that migrates, filled by the SDMA copy. */
async function copyToRam(hive: KfdHive, src: PfnArray, dst: PfnArray, npages: number): Promise<void> {
  const k = hive.kernel;
  for (let i = 0; i < npages; i++) {
    const s = src[i] as number;
    const spage = migratePfnToPage(k, s);
    if (spage === null || (s & MIGRATE_PFN_MIGRATE) === 0) continue;
    const dpage: Page = k.pages.allocPage({ zero: false });
    await k.pages.lockPage(dpage);
    (hive.gpus[0] ?? null)?.copyPage(dpage, spage);
    dst[i] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE);
  }
}

/** `svm_migrate_vma_to_ram`: the hive's VRAM pages of one VMA chunk back to system memory. */
async function migrateVmaToRam(hive: KfdHive, args: MigrateVma): Promise<number> {
  const r = await migrateVmaSetup(args);
  if (r !== 0) return r;
  if (args.cpages > 0) {
    await copyToRam(hive, args.src, args.dst, args.npages);
    await migrateVmaPages(args);
  }
  migrateVmaFinalize(args);
  return 0;
}

/** `svm_migrate_ram_to_vram` over `[start, end)` of the process. */
export async function svmMigrateRangeToVram(p: KfdProcess, start: number, end: number): Promise<number> {
  if (!p.mm.mmgetNotZero()) return -EINVAL;
  const r = await forEachVmaChunk(p.mm, start, end, MIGRATE_CHUNK_PAGES, (vma, s, e) => migrateVmaToVram(p.hive, vma, s, e));
  await p.mm.mmput();
  return r;
}

/** `svm_migrate_vram_to_ram` over `[start, end)` of the process. */
export async function svmMigrateRangeToRam(p: KfdProcess, start: number, end: number): Promise<number> {
  if (!p.mm.mmgetNotZero()) return -EINVAL;
  const r = await forEachVmaChunk(p.mm, start, end, MIGRATE_CHUNK_PAGES, (vma, s, e) =>
    migrateVmaToRam(p.hive, migrateArgs(p.hive, vma, s, e, MIGRATE_VMA_SELECT_DEVICE_PRIVATE)),
  );
  await p.mm.mmput();
  return r;
}

/** `svm_migrate_to_ram`: the pgmap's `migrate_to_ram`, for the page the CPU touched. */
export async function svmMigrateToRam(hive: KfdHive, vmf: VmFault): Promise<number> {
  const start = hive.kernel.pageAlignDown(vmf.address);
  const args = migrateArgs(hive, vmf.vma, start, start + hive.kernel.pageSize, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
  args.faultPage = vmf.page;
  return (await migrateVmaToRam(hive, args)) === 0 ? 0 : VM_FAULT_SIGBUS;
}

/**
 * VRAM eviction (TTM evicting the SVM BOs): every VRAM page of the hive in use goes back to
 * system memory through `migrate_device_range`, whose `try_to_migrate` sends a CLEAR per CPU
 * mapping that the range callbacks evict or unmap like any other.
 */
export async function svmMigrateVramEvict(hive: KfdHive): Promise<number> {
  const k = hive.kernel;
  for (const gpu of hive.gpus) {
    const pgmap = gpu.pgmap;
    if (pgmap === null) continue;
    const n = pgmap.nrPages;
    const src: PfnArray = new Array<number>(n).fill(0);
    const dst: PfnArray = new Array<number>(n).fill(0);
    await migrateDeviceRange(k, src, pgmap.startPfn, n);
    await copyToRam(hive, src, dst, n);
    await migrateDevicePages(k, src, dst, n);
    migrateDeviceFinalize(k, src, dst, n);
  }
  return 0;
}
