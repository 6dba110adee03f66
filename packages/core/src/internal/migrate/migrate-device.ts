/**
 * The device-range migration API (mm/migrate_device.c, v6.1+): `migrate_device_range`,
 * `migrate_device_pfns`, `migrate_device_pages`, `migrate_device_finalize`, used to evict device
 * memory without knowing its virtual addresses. Its only invalidations are those of
 * `try_to_migrate`, one per mapping.
 */
import { offsetIn } from '../align.js';
import { HmmlabError } from '../errors.js';
import type { Kernel } from '../kernel.js';
import { pmdSize } from '../mm/huge.js';
import type { Page } from '../mm/page.js';
import { migrateDeviceFinalizeCore, migrateDevicePagesCore, migrateDeviceUnmap, type PfnArray } from './migrate-core.js';
import { MIGRATE_PFN_MIGRATE, migratePfn } from './migrate-pfn.js';

function checkProfile(k: Kernel, api: string): void {
  if (!k.profile.faultPage) {
    throw new HmmlabError('ERR_PROFILE', `${api}: does not exist in profile ${k.profile.name} (added in v6.1); use profile 6.1 or latest`);
  }
}

function checkLength(api: string, arr: PfnArray, npages: number, name: string): void {
  if (!Number.isInteger(npages) || npages <= 0) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${api}: npages ${String(npages)} must be a positive integer`);
  }
  if (arr.length < npages) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${api}: ${name} has ${arr.length} entries; npages is ${npages}`);
  }
}

/**
 * Profile `latest`: the device-private PMDs that map the folio of `page` become page tables of the
 * same 512 entries and the folio base pages. Model simplification: the newest
 * `migrate_device_range` marks a large folio's entry `MIGRATE_PFN_COMPOUND` and migrates it whole
 * behind a PMD migration entry; the model splits it and migrates its pages one by one, so the
 * driver sees each page's `try_to_migrate` invalidation instead of one over the huge page.
 * Returns false if the folio lock is taken (the pfn is then not collected).
 */
function splitDeviceFolio(k: Kernel, page: Page): boolean {
  const head = page.folio;
  if (!k.pages.trylockPage(head)) return false;
  for (let r = 0; r < head.rmapCount; r++) {
    const m = head.rmapMmAt(r);
    const va = head.rmapVaAt(r);
    const size = pmdSize(m);
    if (offsetIn(va, size) === 0 && m.hugePmds.get(va / size) === 'device-private') m.hugePmds.delete(va / size);
  }
  k.pages.splitFolio(head);
  k.pages.unlockPage(head);
  return true;
}

/** `migrate_device_pfn_lock`: reference and trylock a pfn that is in use. */
function pfnLock(k: Kernel, pfn: number): number {
  // A device page whose struct page was never made was never handed out: its count is zero.
  const page = k.pages.peek(pfn);
  if (page === undefined || !k.pages.tryGetPage(page)) return 0;
  if (page.large && page.isDevicePrivate && !splitDeviceFolio(k, page)) {
    k.pages.putPage(page);
    return 0;
  }
  if (!k.pages.trylockPage(page)) {
    k.pages.putPage(page);
    return 0;
  }
  return migratePfn(pfn) + MIGRATE_PFN_MIGRATE;
}

/**
 * `migrate_device_range`: references, locks and unmaps the in-use pages of
 * `[startPfn, startPfn + npages)`. Returns 0; `src` says which entries migrate.
 */
export async function migrateDeviceRange(k: Kernel, src: PfnArray, startPfn: number, npages: number): Promise<number> {
  const api = 'migrate_device_range';
  checkProfile(k, api);
  checkLength(api, src, npages, 'src');
  for (let i = 0; i < npages; i++) src[i] = pfnLock(k, startPfn + i);
  await migrateDeviceUnmap(k, src, npages, null, false);
  return 0;
}

/** `migrate_device_pfns` (~v6.15): like {@link migrateDeviceRange} for a prefilled array of pfns. */
export async function migrateDevicePfns(k: Kernel, src: PfnArray, npages: number): Promise<number> {
  const api = 'migrate_device_pfns';
  checkProfile(k, api);
  checkLength(api, src, npages, 'src');
  for (let i = 0; i < npages; i++) src[i] = pfnLock(k, src[i] as number);
  await migrateDeviceUnmap(k, src, npages, null, false);
  return 0;
}

/** `migrate_device_pages`: the metadata step, without hole filling. */
export async function migrateDevicePages(k: Kernel, src: PfnArray, dst: PfnArray, npages: number): Promise<void> {
  const api = 'migrate_device_pages';
  checkProfile(k, api);
  checkLength(api, src, npages, 'src');
  checkLength(api, dst, npages, 'dst');
  await migrateDevicePagesCore(k, src, dst, npages, null);
}

/** `migrate_device_finalize`. */
export function migrateDeviceFinalize(k: Kernel, src: PfnArray, dst: PfnArray, npages: number): void {
  const api = 'migrate_device_finalize';
  checkProfile(k, api);
  checkLength(api, src, npages, 'src');
  checkLength(api, dst, npages, 'dst');
  migrateDeviceFinalizeCore(k, src, dst, npages, null, false);
}
