/**
 * Device-exclusive access (mm/rmap.c, mm/memory.c): a device takes a page for atomics; the CPU
 * entry becomes a device-exclusive entry under an `MMU_NOTIFY_EXCLUSIVE` invalidation carrying
 * the caller's owner (so the caller can filter its own event), and a CPU access restores it.
 */
import { EBUSY, EFAULT, EINVAL, HmmlabError } from '../errors.js';
import { handleMmFault, VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV } from '../mm/fault.js';
import { splitHugePmd } from '../mm/huge.js';
import type { Mm } from '../mm/mm.js';
import type { Page } from '../mm/page.js';
import { mkPte, PTE_DEVICE_EXCLUSIVE, PTE_SOFT_DIRTY, PTE_WRITE, pteAccessible, pteFlags, ptePfn, pteWrite } from '../mm/pte.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInitOwner } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_EXCLUSIVE } from '../notifier/range.js';
import { rememberExclusiveOwner } from './device-fault.js';

/**
 * GUP with FOLL_GET|FOLL_WRITE|FOLL_SPLIT_PMD: faults the page in writable and takes a
 * reference; a THP PMD in the way is split first (`follow_pmd_mask` → `split_huge_pmd`), which
 * leaves its folio large.
 */
async function gupWrite(mm: Mm, addr: number): Promise<Page | number> {
  const k = mm.kernel;
  for (let tries = 0; tries < 16; tries++) {
    if (mm.hugePmds.size > 0) await splitHugePmd(mm, addr);
    const e = mm.pte(addr);
    if (pteAccessible(e) && pteWrite(e)) {
      const page = k.pages.page(ptePfn(e));
      k.pages.getPage(page);
      return page;
    }
    const vma = mm.findVma(addr);
    if (vma === undefined || !vma.writable) return -EFAULT;
    const r = await handleMmFault(mm, vma, addr, true);
    if ((r & (VM_FAULT_SIGSEGV | VM_FAULT_SIGBUS)) !== 0) return -EFAULT;
  }
  return -EBUSY;
}

async function convert(mm: Mm, addr: number, page: Page, owner: unknown): Promise<boolean> {
  const k = mm.kernel;
  const range = mmuNotifierRangeInitOwner(MMU_NOTIFY_EXCLUSIVE, 0, mm, addr, addr + k.pageSize, owner);
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  const vpn = addr / k.pageSize;
  const e = mm.pt.get(vpn) ?? 0;
  let ok = false;
  if (pteAccessible(e) && ptePfn(e) === page.pfn && pteWrite(e)) {
    // The owner first: observers of the entry change ask the page whose the access is.
    rememberExclusiveOwner(page, owner);
    mm.setPte(vpn, mkPte(PTE_DEVICE_EXCLUSIVE, page.pfn, PTE_WRITE | (pteFlags(e) & PTE_SOFT_DIRTY)), range.id, 'make-device-exclusive');
    ok = true;
  }
  await mmuNotifierInvalidateRangeEnd(range);
  return ok;
}

/**
 * `folio_make_device_exclusive` (6.1) of a large folio whose head is mapped at `addr`: hugetlb
 * folios are refused; otherwise the rmap walk (`page_make_device_exclusive_one`) converts every
 * present entry of the folio in the VMA under one `MMU_NOTIFY_EXCLUSIVE` invalidation of
 * `[addr, min(vm_end, addr + folio_size))`. True if the entry at `addr` was writable and no entry
 * still maps a page of the folio (`!folio_mapcount(folio)`).
 */
async function convertFolio(mm: Mm, addr: number, head: Page, owner: unknown): Promise<boolean> {
  const k = mm.kernel;
  if (head.hugetlb) return false;
  const vma = mm.findVma(addr);
  const n = 2 ** head.order;
  const end = Math.min(vma === undefined ? addr + k.pageSize : vma.end, addr + n * k.pageSize);
  const range = mmuNotifierRangeInitOwner(MMU_NOTIFY_EXCLUSIVE, 0, mm, addr, end, owner);
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  let valid = false;
  let stillMapped = false;
  for (let i = 0; i < n; i++) {
    const page = k.pages.page(head.pfn + i);
    for (let j = 0; j < page.rmapCount; j++) {
      const va = page.rmapVaAt(j);
      if (page.rmapMmAt(j) !== mm || va < addr || va >= end) {
        stillMapped = true;
        continue;
      }
      const vpn = va / k.pageSize;
      const e = mm.pt.get(vpn) ?? 0;
      if (!pteAccessible(e) || ptePfn(e) !== page.pfn) continue;
      const w = pteWrite(e) ? PTE_WRITE : 0;
      rememberExclusiveOwner(page, owner);
      mm.setPte(vpn, mkPte(PTE_DEVICE_EXCLUSIVE, page.pfn, w | (pteFlags(e) & PTE_SOFT_DIRTY)), range.id, 'make-device-exclusive');
      if (va === addr && w !== 0) valid = true;
    }
  }
  await mmuNotifierInvalidateRangeEnd(range);
  return valid && !stillMapped;
}

function checkCommon(api: string, mm: Mm, want: 'range' | 'single'): void {
  const have = mm.profile.exclusive;
  if (have !== want) {
    const fix =
      have === null
        ? 'device-exclusive access arrived in v5.14'
        : have === 'single'
          ? 'use makeDeviceExclusive'
          : 'use makeDeviceExclusiveRange';
    throw new HmmlabError('ERR_PROFILE', `${api}: not available in profile ${mm.profile.name}; ${fix}`);
  }
  if (!mm.mmapLock.isHeldByCurrent()) {
    throw new HmmlabError('ERR_NOT_LOCKED', `${api}: the mmap lock is not held; take mm.mmapLock.downRead() first`);
  }
}

/**
 * `make_device_exclusive` (~6.14+): one page at `addr`. Returns the page, locked and referenced
 * (the caller must `unlockPage` and `putPage` it), or a negative errno.
 */
export async function makeDeviceExclusive(mm: Mm, addr: number, owner: unknown): Promise<Page | number> {
  const api = 'make_device_exclusive';
  checkCommon(api, mm, 'single');
  const k = mm.kernel;
  const a = k.pageAlignDown(addr);
  const page = await gupWrite(mm, a);
  if (typeof page === 'number') return page;
  if (!page.anon || page.folio.hugetlb) {
    k.pages.putPage(page);
    return -EINVAL; // -EOPNOTSUPP in the kernel: anonymous non-hugetlb folios only
  }
  await k.pages.lockPage(page);
  if (!(await convert(mm, a, page, owner))) {
    k.pages.unlockPage(page);
    k.pages.putPage(page);
    return -EBUSY;
  }
  return page;
}

/**
 * `make_device_exclusive_range` (5.14–6.13): each page of `[start, end)` is faulted in writable,
 * trylocked and converted; `pages[i]` gets the locked, referenced page, or null where it failed.
 * Returns the number of pages processed (fewer than asked when faulting a later page fails, as
 * `get_user_pages_remote` stops there) or a negative errno if the first page fails.
 */
export async function makeDeviceExclusiveRange(
  mm: Mm,
  start: number,
  end: number,
  pages: (Page | null)[],
  owner: unknown,
): Promise<number> {
  const api = 'make_device_exclusive_range';
  checkCommon(api, mm, 'range');
  const k = mm.kernel;
  const n = Math.floor((end - start) / k.pageSize);
  if (n <= 0 || start % k.pageSize !== 0) return -EINVAL;
  if (pages.length < n) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${api}: pages has ${pages.length} entries; the range needs ${n}`);
  }
  // get_user_pages_remote: an errno only if the first page fails; otherwise the pages it got.
  let npages = 0;
  for (; npages < n; npages++) {
    const got = await gupWrite(mm, start + npages * k.pageSize);
    if (typeof got === 'number') {
      if (npages === 0) return got;
      break;
    }
    pages[npages] = got;
  }
  for (let i = 0; i < npages; i++) {
    const page = pages[i] as Page;
    // `PageTail(pages[i]) || !folio_trylock(folio)`: a tail page of a large folio is refused.
    if (page.head !== null || !page.anon || !k.pages.trylockPage(page)) {
      k.pages.putPage(page);
      pages[i] = null;
      continue;
    }
    const ok = page.large
      ? await convertFolio(mm, start + i * k.pageSize, page, owner)
      : !page.folio.hugetlb && (await convert(mm, start + i * k.pageSize, page, owner));
    if (!ok) {
      k.pages.unlockPage(page);
      k.pages.putPage(page);
      pages[i] = null;
    }
  }
  return npages;
}
