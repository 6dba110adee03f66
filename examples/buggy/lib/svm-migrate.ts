/**
 * The migration paths of the SVM mirror (nouveau_dmem.c, drm_pagemap/xe_svm.c): system → device
 * memory chunk by chunk (`nouveau_dmem_migrate_vma`), device → system for a range (the driver's
 * migrate-to-RAM ioctl) and for one CPU fault (the pgmap's `migrate_to_ram`), and eviction of all
 * device memory (`migrate_device_range`).
 */
import {
  EINVAL,
  MIGRATE_PFN_LOCKED,
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
  mmuIntervalReadBegin,
  type PfnArray,
  VM_FAULT_SIGBUS,
  type Vma,
  type VmFault,
} from '@hmmlab/core';
import { devPtePfn, forEachVmaChunk } from '@hmmlab/harness';
import type { SvmMirror } from './svm-mirror.js';

/** Pages per `migrate_vma_setup` call. */
const CHUNK_PAGES = 16;

/** `-EOPNOTSUPP`: a device without memory cannot be migrated to. */
const EOPNOTSUPP = 95;

/** Which device → system path revokes: the migrate-to-RAM ioctl, or the CPU fault's `migrate_to_ram`. */
export type ToRamCaller = 'ioctl' | 'cpu-fault';

/** `MIGRATE_PFN_LOCKED` where the profile still has it (until v5.17). */
function lockedFlag(m: SvmMirror): number {
  return m.kernel.profile.migratePfnLocked ? MIGRATE_PFN_LOCKED : 0;
}

/** Allocates and fills a device page for every entry that migrates (`nouveau_dmem_migrate_copy_one`). */
function copyToDevice(m: SvmMirror, args: MigrateVma): void {
  const k = m.kernel;
  for (let i = 0; i < args.npages; i++) {
    const s = args.src[i] as number;
    if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
    const dpage = m.device.allocPage();
    if (dpage === null) continue;
    dpage.zoneDeviceData = m;
    const spage = migratePfnToPage(k, s);
    // A hole or the zero page: the new page is zero-filled, writable if the VMA is.
    const write = (s & MIGRATE_PFN_WRITE) !== 0 || (spage === null && (args.vma?.writable ?? false));
    m.device.copyPage(dpage, spage ?? k.pages.zeroPage);
    args.dst[i] = migratePfn(dpage.pfn) | (write ? MIGRATE_PFN_WRITE : 0) | lockedFlag(m);
  }
}

/**
 * With `L` held: maps the new device pages (nouveau_pfns_map). An entry that still translates a
 * source page (a driver that kept its sources mapped across the copy) is replaced, and the TLB
 * flushed, before `migrate_vma_finalize` frees that page.
 */
function mapMigrated(m: SvmMirror, args: MigrateVma): void {
  const ps = m.kernel.pageSize;
  let replaced = false;
  for (let i = 0; i < args.npages; i++) {
    if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) === 0) continue;
    const d = args.dst[i] as number;
    const dpage = migratePfnToPage(m.kernel, d);
    if (dpage === null) continue;
    const va = args.start + i * ps;
    if (m.vm.pt.has(va / ps)) replaced = true;
    m.vm.setPte(va, dpage, { write: (d & MIGRATE_PFN_WRITE) !== 0 }, 'map migrated');
  }
  if (replaced) m.vm.flushTlb(args.start, args.end);
}

/** Runs `fn` under `L`, unless the whole migration already holds it. */
async function locked(m: SvmMirror, whole: boolean, fn: () => void): Promise<void> {
  if (!whole) await m.lock.lock();
  fn();
  if (!whole) m.lock.unlock();
}

/** The `struct migrate_vma` of one chunk, selecting `flags`, with this device as `pgmap_owner`. */
function chunkArgs(m: SvmMirror, vma: Vma, start: number, end: number, flags: number): MigrateVma {
  const n = (end - start) / m.kernel.pageSize;
  const pfns = (): number[] => new Array<number>(n).fill(0);
  return new MigrateVma({ vma, start, end, src: pfns(), dst: pfns(), pgmapOwner: m.owner, flags });
}

/** `migrate_vma_setup`; with `L` held across it, the mirror knows the task that is inside it (`setupTask`). */
async function setupLocked(m: SvmMirror, whole: boolean, args: MigrateVma): Promise<number> {
  if (!whole) return migrateVmaSetup(args);
  m.setupTask.set(m.kernel.sched.currentTaskId());
  try {
    return await migrateVmaSetup(args);
  } finally {
    m.setupTask.set(null);
  }
}

async function chunkToDevice(m: SvmMirror, vma: Vma, start: number, end: number): Promise<number> {
  const args = chunkArgs(m, vma, start, end, MIGRATE_VMA_SELECT_SYSTEM);
  // The count of other invalidations before setup, then read_begin: it waits out every one whose
  // callback already ran (so is counted) but whose entry changes have not happened yet. The other
  // order misses one whose callback runs between the two.
  await m.lock.lock();
  const before = m.foreign;
  m.lock.unlock();
  await mmuIntervalReadBegin(m.notifier);
  const whole = m.lockAcross('to-device');
  if (whole) await m.lock.lock();
  const r = await setupLocked(m, whole, args);
  if (r === 0) {
    await locked(m, whole, () => m.revokeMigrating(start, end, 'to-device'));
    copyToDevice(m, args);
    await migrateVmaPages(args);
    // migrate_vma_pages keeps an entry another invalidation zapped meanwhile as migrating, and
    // finalize then frees its destination: map only if no other invalidation came (the sequence
    // cannot tell, its own MIGRATE moves it too).
    await locked(m, whole, () => {
      if (m.foreign === before) mapMigrated(m, args);
      else m.revoke(start, end); // anything left of the sources goes before finalize frees them
    });
    migrateVmaFinalize(args);
    await locked(m, whole, () => m.migrated('to-device'));
  }
  if (whole) m.lock.unlock();
  return r;
}

/** System → device memory for `[start, end)`, one VMA chunk at a time. */
export async function svmMigrateToDevice(m: SvmMirror, start: number, end: number): Promise<number> {
  if (m.device.pgmap === null) return -EOPNOTSUPP;
  if (!m.mm.mmgetNotZero()) return -EINVAL;
  const r = await forEachVmaChunk(m.mm, start, end, CHUNK_PAGES, (vma, s, e) => chunkToDevice(m, vma, s, e));
  await m.mm.mmput();
  return r;
}

/** Allocates a system page for every device page that migrates, copies it, and fills `dst`. */
async function copyToRam(m: SvmMirror, src: PfnArray, dst: PfnArray, npages: number): Promise<void> {
  const k = m.kernel;
  for (let i = 0; i < npages; i++) {
    const s = src[i] as number;
    const spage = migratePfnToPage(k, s);
    if (spage === null || (s & MIGRATE_PFN_MIGRATE) === 0) continue;
    const dpage = k.pages.allocPage({ zero: false });
    await k.pages.lockPage(dpage);
    m.device.copyPage(dpage, spage);
    dst[i] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE) | lockedFlag(m);
  }
}

/** Device → system memory of the device pages of `args` (set up by the caller). */
async function toRamChunk(m: SvmMirror, args: MigrateVma, caller: ToRamCaller): Promise<number> {
  const whole = m.lockAcross(caller);
  if (whole) await m.lock.lock();
  const r = await setupLocked(m, whole, args);
  if (r === 0 && args.cpages > 0) {
    await locked(m, whole, () => m.revokeMigrating(args.start, args.end, caller));
    await copyToRam(m, args.src, args.dst, args.npages);
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    await locked(m, whole, () => m.migrated(caller));
  }
  if (whole) m.lock.unlock();
  return r;
}

/** The driver's migrate-to-RAM ioctl over `[start, end)`. */
export async function svmMigrateToRam(m: SvmMirror, start: number, end: number): Promise<number> {
  if (m.device.pgmap === null) return -EOPNOTSUPP;
  if (!m.mm.mmgetNotZero()) return -EINVAL;
  const r = await forEachVmaChunk(m.mm, start, end, CHUNK_PAGES, (vma, s, e) =>
    toRamChunk(m, chunkArgs(m, vma, s, e, MIGRATE_VMA_SELECT_DEVICE_PRIVATE), 'ioctl'),
  );
  await m.mm.mmput();
  return r;
}

/** The pgmap's `migrate_to_ram` for one CPU fault (nouveau_dmem_migrate_to_ram). */
export async function svmToRam(m: SvmMirror, vmf: VmFault): Promise<number> {
  const ps = m.kernel.pageSize;
  const start = vmf.address - (vmf.address % ps);
  const args = chunkArgs(m, vmf.vma, start, start + ps, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
  if (m.kernel.profile.faultPage) args.faultPage = vmf.page;
  return (await toRamChunk(m, args, 'cpu-fault')) === 0 ? 0 : VM_FAULT_SIGBUS;
}

/** Evicts every page of the device memory (`migrate_device_range`, as nouveau_dmem_evict_chunk). */
export async function svmEvict(m: SvmMirror): Promise<number> {
  const pgmap = m.device.pgmap;
  const k = m.kernel;
  if (pgmap === null || !k.profile.faultPage) return -EOPNOTSUPP;
  const n = pgmap.nrPages;
  const src: number[] = new Array<number>(n).fill(0);
  const dst: number[] = new Array<number>(n).fill(0);
  await migrateDeviceRange(k, src, pgmap.startPfn, n);
  const moving = new Set<number>();
  for (const s of src) if ((s & MIGRATE_PFN_MIGRATE) !== 0) moving.add(migratePfnToPage(k, s)?.pfn ?? -1);
  await m.lock.lock();
  const ps = k.pageSize;
  for (const [vpn, e] of [...m.vm.pt]) if (moving.has(devPtePfn(e))) m.revoke(vpn * ps, (vpn + 1) * ps);
  m.lock.unlock();
  await copyToRam(m, src, dst, n);
  await migrateDevicePages(k, src, dst, n);
  migrateDeviceFinalize(k, src, dst, n);
  return 0;
}
