/**
 * VRAM as device-private memory (drivers/gpu/drm/nouveau/nouveau_dmem.c): migration to VRAM
 * (`nouveau_dmem_migrate_vma`), back to system memory on a CPU fault (`nouveau_dmem_migrate_to_ram`,
 * the pgmap's `migrate_to_ram`), and eviction of the whole VRAM (`nouveau_dmem_evict_chunk`).
 *
 * Both directions run under the GPU's own `MMU_NOTIFY_MIGRATE`, which the classic notifier skips,
 * so each path revokes the GPU's translations of the pages it is about to copy, under
 * `svmm->mutex`, before copying them (bug-classes I5 c).
 */
import {
  EINVAL,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  MMU_NOTIFY_MIGRATE,
  type MmuIntervalNotifierOps,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  type Page,
  type PfnArray,
  VM_FAULT_SIGBUS,
  type Vma,
  type VmFault,
} from '@hmmlab/core';
import { forEachVmaChunk } from '@hmmlab/harness';
import type { NouveauDrm } from './drm.js';
import { type NouveauSvmm, SvmNotifier } from './svmm.js';

/** Pages per `migrate_vma_setup` call. */
const MIGRATE_CHUNK_PAGES = 16;

/**
 * The notifier a migration to VRAM maps its new pages under (not in nouveau, see README): like the
 * fault path's, but the GPU's own migrations (this one's collect and hole fill, or a concurrent
 * one) do not move it: they cannot change an entry this migration holds as a migration entry.
 */
const nouveauDmemMniOps: MmuIntervalNotifierOps = {
  async invalidate(mni, range, curSeq) {
    const svmm = (mni as SvmNotifier).svmm;
    if (range.event === MMU_NOTIFY_MIGRATE && range.owner === svmm.drm.dev) return true;
    if (mmuNotifierRangeBlockable(range)) await svmm.mutex.lock();
    else if (!svmm.mutex.tryLock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    svmm.mutex.unlock();
    return true;
  },
};

/**
 * `nouveau_dmem_migrate_copy_one` for a chunk: a VRAM page for every system page that migrates,
 * filled by the copy engine from the source (DMA-mapped for the copy). Returns the DMA-mapped
 * sources, to unmap once the copy fence signalled.
 */
function copyToVram(svmm: NouveauSvmm, args: MigrateVma): Page[] {
  const k = svmm.kernel;
  const dev = svmm.drm.device;
  const mapped: Page[] = [];
  for (let i = 0; i < args.npages; i++) {
    const s = args.src[i] as number;
    const spage = migratePfnToPage(k, s);
    // Holes and the zero page stay; so do file and shmem pages, which migrate_vma_pages would
    // refuse to move to device-private memory anyway (only anonymous memory goes there).
    if (spage === null || (s & MIGRATE_PFN_MIGRATE) === 0 || !spage.anon) continue;
    const dpage = dev.allocPage();
    if (dpage === null) continue; // VRAM is full: this page stays in system memory
    dpage.zoneDeviceData = svmm;
    dev.dmaMap(spage, false);
    mapped.push(spage);
    dev.copyPage(dpage, spage);
    args.dst[i] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE);
  }
  return mapped;
}

/**
 * The GPU's own MIGRATE invalidation was skipped: revoke its translations of every page that is
 * about to be copied, before the copy. The kernel's nouveau does this only for VRAM → RAM; for
 * RAM → VRAM it copies while the GPU may still write the source page (bug class A1).
 */
async function revokeMigrating(svmm: NouveauSvmm, args: MigrateVma): Promise<void> {
  const ps = svmm.kernel.pageSize;
  await svmm.mutex.lock();
  if (svmm.live) {
    for (let i = 0; i < args.npages; i++) {
      const s = args.src[i] as number;
      if ((s & MIGRATE_PFN_MIGRATE) !== 0 && migratePfnToPage(svmm.kernel, s) !== null) {
        svmm.invalidate(args.start + i * ps, args.start + (i + 1) * ps);
      }
    }
  }
  svmm.mutex.unlock();
}

/** One chunk of `nouveau_dmem_migrate_vma`: setup, revoke, copy, pages, `nouveau_pfns_map`, finalize. */
async function migrateChunk(svmm: NouveauSvmm, mni: SvmNotifier, vma: Vma, start: number, end: number): Promise<number> {
  const k = svmm.kernel;
  const n = (end - start) / k.pageSize;
  const args = new MigrateVma({
    vma,
    start,
    end,
    src: new Array<number>(n).fill(0),
    dst: new Array<number>(n).fill(0),
    pgmapOwner: svmm.drm.dev,
    flags: MIGRATE_VMA_SELECT_SYSTEM,
  });
  // Read before setup: waits out an invalidation whose callbacks ran but whose entry changes have not.
  const seq = await mmuIntervalReadBegin(mni);
  const ret = await migrateVmaSetup(args);
  if (ret !== 0) return ret;
  await revokeMigrating(svmm, args);
  const mapped = copyToVram(svmm, args);
  await migrateVmaPages(args);
  for (const p of mapped) svmm.drm.device.dmaUnmap(p);
  // nouveau_pfns_map: map the new VRAM pages while they are still locked, unless an invalidation
  // other than our own migration came since setup (a zap of a migration entry makes finalize free
  // the destination; mapping it then would leave the GPU on a freed page).
  await svmm.mutex.lock();
  if (svmm.live && !mmuIntervalReadRetry(mni, seq)) {
    for (let i = 0; i < args.npages; i++) {
      if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) === 0) continue;
      const d = args.dst[i] as number;
      const dpage = migratePfnToPage(k, d);
      if (dpage !== null) svmm.vmm.setPte(start + i * k.pageSize, dpage, { write: (d & MIGRATE_PFN_WRITE) !== 0 }, 'nouveau_pfns_map');
    }
  }
  svmm.mutex.unlock();
  migrateVmaFinalize(args);
  return 0;
}

/** `nouveau_dmem_migrate_vma` (NOUVEAU_SVM_BIND, target GPU_VRAM) over `[start, end)`. */
export async function nouveauDmemMigrateVma(svmm: NouveauSvmm, start: number, end: number): Promise<number> {
  const mm = svmm.mm;
  // nouveau_svmm_bind: get_task_mm.
  if (!mm.mmgetNotZero()) return -EINVAL;
  const mni = new SvmNotifier(svmm, `nouveau migrate 0x${start.toString(16)}`);
  // Inserted before the mmap lock is taken: the first insert on an mm takes it for writing.
  let ret = await mmuIntervalNotifierInsert(mni, mm, start, end - start, nouveauDmemMniOps);
  if (ret === 0) {
    ret = await forEachVmaChunk(mm, start, end, MIGRATE_CHUNK_PAGES, (vma, s, e) => migrateChunk(svmm, mni, vma, s, e));
    await mmuIntervalNotifierRemove(mni);
  }
  await mm.mmput();
  return ret;
}

/**
 * `nouveau_dmem_fault_copy_one` for every entry: a new system page each, then under
 * `svmm->mutex` the GPU's translations of the range go (`nouveau_svmm_invalidate`, the explicit
 * invalidation its skipped MIGRATE needs) before the copy. Nothing under the mutex sleeps: a
 * non-blockable invalidation must find it free (the interval notifiers' trylock, `nouveauSvmMniOps`).
 */
async function copyToRam(svmm: NouveauSvmm | null, args: MigrateVma): Promise<void> {
  const k = args.vma?.mm?.kernel;
  if (k === undefined) return;
  const dpages: (Page | null)[] = [];
  for (let i = 0; i < args.npages; i++) {
    const s = args.src[i] as number;
    let dpage: Page | null = null;
    if ((s & MIGRATE_PFN_MIGRATE) !== 0 && migratePfnToPage(k, s) !== null) {
      dpage = k.pages.allocPage({ zero: false });
      await k.pages.lockPage(dpage);
    }
    dpages.push(dpage);
  }
  if (svmm !== null) await svmm.mutex.lock();
  if (svmm?.live) svmm.invalidate(args.start, args.end);
  for (let i = 0; i < args.npages; i++) {
    const spage = migratePfnToPage(k, args.src[i] as number);
    const dpage = dpages[i];
    if (spage === null || dpage === null || dpage === undefined) continue;
    k.pages.copyPage(dpage, spage, 'nouveau copy engine');
    args.dst[i] = migratePfn(dpage.pfn) | ((args.src[i] as number) & MIGRATE_PFN_WRITE);
  }
  svmm?.mutex.unlock();
}

/** VRAM → RAM of one `migrate_vma` (set up by the caller): copy, pages, finalize. */
async function toRam(drm: NouveauDrm, args: MigrateVma): Promise<number> {
  if ((await migrateVmaSetup(args)) < 0) return VM_FAULT_SIGBUS;
  if (args.cpages === 0) return 0;
  // The svmm that migrated the page to VRAM (page->zone_device_data).
  const first = args.src.length > 0 ? migratePfnToPage(drm.kernel, args.src[0] as number) : null;
  await copyToRam((first?.zoneDeviceData as NouveauSvmm | undefined) ?? null, args);
  await migrateVmaPages(args);
  migrateVmaFinalize(args);
  return 0;
}

function toRamArgs(drm: NouveauDrm, vma: Vma, start: number, end: number): MigrateVma {
  const n = (end - start) / drm.kernel.pageSize;
  return new MigrateVma({
    vma,
    start,
    end,
    src: new Array<number>(n).fill(0),
    dst: new Array<number>(n).fill(0),
    pgmapOwner: drm.dev,
    flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  });
}

/** `nouveau_dmem_migrate_to_ram`: the pgmap's `migrate_to_ram`, for the page the CPU touched. */
export function nouveauDmemMigrateToRam(drm: NouveauDrm, vmf: VmFault): Promise<number> {
  const start = drm.kernel.pageAlignDown(vmf.address);
  const args = toRamArgs(drm, vmf.vma, start, start + drm.kernel.pageSize);
  args.faultPage = vmf.page;
  return toRam(drm, args);
}

/** The same steps over `[start, end)`, one page per `migrate_vma` (each page names its own svmm). */
export async function nouveauDmemMigrateVmaToRam(svmm: NouveauSvmm, start: number, end: number): Promise<number> {
  const mm = svmm.mm;
  const ps = svmm.kernel.pageSize;
  if (!mm.mmgetNotZero()) return -EINVAL;
  const ret = await forEachVmaChunk(mm, start, end, 1, async (vma, s) => {
    const r = await toRam(svmm.drm, toRamArgs(svmm.drm, vma, s, s + ps));
    return r === 0 ? 0 : -EINVAL;
  });
  await mm.mmput();
  return ret;
}

/**
 * The VRAM pages in use that name `svmm` as their `zone_device_data`: a CPU fault on one would
 * reach `svmm` through `nouveau_dmem_migrate_to_ram`. A page whose struct page the model never made
 * was never handed out (`peek`: looking does not make it).
 */
export function nouveauDmemPagesOf(svmm: NouveauSvmm): number[] {
  const pgmap = svmm.drm.device.pgmap;
  if (pgmap === null) return [];
  const pages = svmm.kernel.pages;
  const out: number[] = [];
  for (let pfn = pgmap.startPfn; pfn < pgmap.startPfn + pgmap.nrPages; pfn++) {
    const p = pages.peek(pfn);
    if (p !== undefined && !p.free && p.zoneDeviceData === svmm) out.push(pfn);
  }
  return out;
}

/**
 * `nouveau_dmem_evict_chunk`'s steps for the VRAM pages of one svmm only (`migrate_device_range`
 * of each page): the pages other clients migrated stay where they are.
 */
export async function nouveauDmemEvictSvmm(svmm: NouveauSvmm, pfns: readonly number[]): Promise<void> {
  const k = svmm.kernel;
  for (const pfn of pfns) {
    const src: PfnArray = [0];
    const dst: PfnArray = [0];
    await migrateDeviceRange(k, src, pfn, 1);
    const s = src[0] as number;
    const spage = migratePfnToPage(k, s);
    if (spage !== null && (s & MIGRATE_PFN_MIGRATE) !== 0) {
      // alloc_page(GFP_HIGHUSER | __GFP_NOFAIL): eviction cannot fail.
      const dpage = k.pages.allocPage({ zero: false });
      await k.pages.lockPage(dpage);
      svmm.drm.device.copyPage(dpage, spage);
      dst[0] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE);
    }
    await migrateDevicePages(k, src, dst, 1);
    migrateDeviceFinalize(k, src, dst, 1);
  }
}

/**
 * `nouveau_dmem_evict_chunk`: every VRAM page in use goes back to system memory through
 * `migrate_device_range`. Its `try_to_migrate` sends a CLEAR (no owner) for each CPU mapping,
 * which the classic notifier does not skip: the GPU's translations are gone before the copy.
 */
export async function nouveauDmemEvictChunk(drm: NouveauDrm): Promise<number> {
  const k = drm.kernel;
  const pgmap = drm.device.pgmap;
  if (pgmap === null) return 0;
  const n = pgmap.nrPages;
  const src: PfnArray = new Array<number>(n).fill(0);
  const dst: PfnArray = new Array<number>(n).fill(0);
  await migrateDeviceRange(k, src, pgmap.startPfn, n);
  for (let i = 0; i < n; i++) {
    const s = src[i] as number;
    const spage = migratePfnToPage(k, s);
    if (spage === null || (s & MIGRATE_PFN_MIGRATE) === 0) continue;
    // alloc_page(GFP_HIGHUSER | __GFP_NOFAIL): eviction cannot fail.
    const dpage = k.pages.allocPage({ zero: false });
    await k.pages.lockPage(dpage);
    drm.device.copyPage(dpage, spage);
    dst[i] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE);
  }
  await migrateDevicePages(k, src, dst, n);
  migrateDeviceFinalize(k, src, dst, n);
  return 0;
}
