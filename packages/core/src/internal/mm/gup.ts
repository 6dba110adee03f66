/**
 * GUP pins: `pin_user_pages` of one page and `unpin_user_page` (mm/gup.c). A pin is the
 * reference an O_DIRECT read or an RDMA registration holds while a device DMAs into the page: the
 * page stays where it is until it is unpinned. Migration leaves a pinned page alone
 * (`migrate_vma_check_page` in mm/migrate_device.c sees the extra reference; collection skips an
 * exclusive anonymous page whose `folio_try_share_anon_rmap_pte` fails), and so does reclaim
 * (`folio_maybe_dma_pinned`).
 */

import { populateRange } from './fault.js';
import type { Mm } from './mm.js';
import type { Page } from './page.js';
import { PTE_PRESENT, pteAccessible, pteKindOf, ptePfn, pteWrite } from './pte.js';

/**
 * `pin_user_pages(va, 1, write ? FOLL_WRITE : 0)`: faults the page in as `__get_user_pages` does
 * (`faultin_page`), then pins it under the page-table lock (`follow_page_pte` → `try_grab_folio`:
 * a pin is also a reference). Returns the pinned page, or null when there is nothing to pin: the
 * fault failed, the entry is not a present page the access allows, the shared zero page (not
 * pinned since v6.5, "mm/gup: don't take a pin on the zero page" in `try_grab_folio`), or an
 * anonymous page shared with another process (`gup_must_unshare`: the kernel would unshare it
 * first; the model does not pin it).
 */
export async function pinUserPage(mm: Mm, va: number, write: boolean): Promise<Page | null> {
  const k = mm.kernel;
  const start = k.pageAlignDown(va);
  await populateRange(mm, start, start + k.pageSize, write);
  // follow_page_pte: nothing interleaves from the walk to the pin.
  const e = mm.pte(start);
  if (pteKindOf(e) !== PTE_PRESENT || !pteAccessible(e) || (write && !pteWrite(e))) return null;
  const page = k.pages.page(ptePfn(e));
  if (page.kind === 'zero' || (page.anon && !page.anonExclusive)) return null;
  page.pins++;
  k.pages.getPage(page);
  return page;
}

/** `unpin_user_page`: drops a pin {@link pinUserPage} took (and its reference). */
export function unpinUserPage(mm: Mm, page: Page): void {
  page.pins--;
  mm.kernel.pages.putPage(page);
}
