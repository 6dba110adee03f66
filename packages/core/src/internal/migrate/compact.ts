/**
 * Migration of a system page to another system page (mm/migrate.c `migrate_pages`, as compaction
 * and NUMA balancing use it): every mapping becomes a migration entry under its own CLEAR
 * invalidation (`try_to_migrate`), the contents move to a new page, and the entries are restored
 * pointing at it. Pinned pages do not move.
 */
import { EBUSY, EINVAL } from '../errors.js';
import type { Kernel } from '../kernel.js';
import { splitHugePage } from '../mm/huge.js';
import type { Page } from '../mm/page.js';
import { removeMigrationPtes, tryToMigrate } from './migrate-core.js';

/**
 * Moves a mapped anonymous or page-cache page to a new page. Returns 0, `-EINVAL` (not a movable
 * system page) or `-EBUSY` (locked, pinned, or still mapped).
 */
export async function compactPage(k: Kernel, page: Page): Promise<number> {
  if (page.free || page.kind !== 'system' || page.isolated || page.swapSlot !== 0) return -EINVAL;
  if (page.file !== null) return -EINVAL; // page-cache migration is not modelled
  if (!page.anon) return -EINVAL; // not on the LRU: a driver's page mapped with vm_insert_page
  if (page.large) {
    // The model has no large-folio migration: a THP is split first, as migrate_pages_batch
    // does when it cannot migrate a large folio whole (try_split_folio); hugetlb is not compacted.
    if (page.folio.hugetlb) return -EINVAL;
    const m = page.rmapMm0;
    if (m !== null && !(await splitHugePage(m, page.rmapVa0))) return -EBUSY;
    if (page.large) k.pages.splitFolio(page.folio);
    // The split slept: a process exit may have freed the page meanwhile. Compaction holds its
    // isolation reference across the split (mm/compaction.c isolate_migratepages_block), and
    // mm/migrate.c unmap_and_move finds a page whose only reference is that one ("page was freed
    // from under us") and moves nothing; the model takes no reference before the split, so it
    // looks again.
    if (page.free || page.kind !== 'system' || !page.anon || page.isolated) return -EBUSY;
  }
  if (!k.pages.trylockPage(page)) return -EBUSY;
  page.isolated = true;
  k.pages.getPage(page); // isolation reference
  const restore = (): number => {
    removeMigrationPtes(k, page, page);
    page.isolated = false;
    k.pages.unlockPage(page);
    k.pages.putPage(page);
    return -EBUSY;
  };
  if (page.pins > 0) return restore();
  await tryToMigrate(k, page);
  // migrate_folio: only the isolation reference may remain (folio_expected_ref_count).
  if (page.mapcount > 0 || page.refcount !== 1) return restore();
  const dst = k.pages.allocPage({ zero: false });
  k.pages.copyPage(dst, page, 'compaction');
  dst.anon = page.anon;
  dst.dirty = page.dirty;
  k.pages.trylockPage(dst);
  removeMigrationPtes(k, page, dst);
  k.pages.unlockPage(dst);
  k.pages.putPage(dst); // the allocation reference; the mappings hold theirs
  k.pages.unlockPage(page);
  k.pages.putPage(page); // the isolation reference: the old page is freed
  return 0;
}
