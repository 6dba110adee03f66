/**
 * `migrate_vma_setup` / `migrate_vma_pages` / `migrate_vma_finalize` (mm/migrate_device.c): the
 * migration of a virtual range of one VMA to or from device memory. Collect runs inside one
 * invalidation over `[start, end)`: `MMU_NOTIFY_MIGRATE` with the caller's owner since the seed
 * patch (998427b3ad2c), `MMU_NOTIFY_CLEAR` without owner before it.
 */
import { offsetIn } from '../align.js';
import { EINVAL, HmmlabError, hex } from '../errors.js';
import type { Kernel } from '../kernel.js';
import { VM_IO, VM_MIXEDMAP, VM_PFNMAP } from '../mm/constants.js';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, hugePmdAt, hugePmdsIn, pmdSize, splitHugePage } from '../mm/huge.js';
import type { Mm } from '../mm/mm.js';
import type { Page } from '../mm/page.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PRESENT,
  pteFlags,
  pteKindOf,
  ptePfn,
  pteWrite,
} from '../mm/pte.js';
import type { Vma } from '../mm/vma.js';
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  mmuNotifierRangeInitOwner,
} from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_MIGRATE } from '../notifier/range.js';
import { DevPagemap } from './memremap.js';
import {
  migrateDeviceFinalizeCore,
  migrateDevicePagesCore,
  migrateDeviceUnmap,
  migrationEntryFor,
  type PfnArray,
  rangePfns,
  unboundPfns,
} from './migrate-core.js';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_LOCKED,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnToPage,
} from './migrate-pfn.js';

/** `struct migrate_vma`. Fill in the inputs, then call {@link migrateVmaSetup}. */
export class MigrateVma {
  /** The VMA holding `[start, end)`. */
  vma: Vma | null = null;
  /** Source entries, written by setup; do not modify them afterwards. */
  src: PfnArray = [];
  /** Destination entries, written by the driver between setup and `migrateVmaPages`. */
  dst: PfnArray = [];
  /** Output: entries that will migrate (after setup: including holes). */
  cpages = 0;
  /** Output: entries collected. */
  npages = 0;
  /** First address (page aligned). */
  start = 0;
  /** End address (exclusive, page aligned; `end - start` at most the VMA). */
  end = 0;
  /** v5.9+: owner of the device-private pages to select, and the owner the MIGRATE invalidation carries. */
  pgmapOwner: unknown = undefined;
  /** v5.9+: `MIGRATE_VMA_SELECT_*`. */
  flags = 0;
  /** v6.1+: the locked device-private page a `migrateToRam` is called for. */
  faultPage: Page | null = null;
  /**
   * Profiles 5.8 and seed (v5.7 API): set, only device-private pages of this owner are selected;
   * unset, only system pages.
   */
  srcOwner: unknown = undefined;

  constructor(
    init: Partial<Pick<MigrateVma, 'vma' | 'src' | 'dst' | 'start' | 'end' | 'pgmapOwner' | 'flags' | 'faultPage' | 'srcOwner'>> = {},
  ) {
    Object.assign(this, init);
  }
}

interface MigrateState {
  stage: 'setup' | 'pages' | 'finalized';
  srcCopy: Float64Array;
  mm: Mm;
  kernel: Kernel;
}

/**
 * Where each `MigrateVma` is in setup → pages → finalize, kept on the object under a symbol (not
 * in a module-level `WeakMap`: V8's young-generation collector keeps such a map's values alive,
 * and this one reaches the kernel, so every run would outlive its end until a full collection).
 */
const STATE = Symbol('migrate_vma state');
type WithState = MigrateVma & { [STATE]?: MigrateState };

function checkArgs(api: string, m: MigrateVma, mm: Mm): void {
  const p = mm.profile;
  if (p.migrateSelect === 'src_owner') {
    if (m.flags !== 0 || m.pgmapOwner !== undefined) {
      throw new HmmlabError(
        'ERR_PROFILE',
        `${api}: flags and pgmapOwner do not exist in profile ${p.name} (added by 5143192cd410 in v5.9); use srcOwner`,
      );
    }
  } else {
    if (m.srcOwner !== undefined) {
      throw new HmmlabError(
        'ERR_PROFILE',
        `${api}: srcOwner was renamed pgmapOwner (with MIGRATE_VMA_SELECT_* flags) in v5.9; profile ${p.name} uses pgmapOwner and flags`,
      );
    }
    const known =
      MIGRATE_VMA_SELECT_SYSTEM |
      MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
      (p.deviceCoherent ? MIGRATE_VMA_SELECT_DEVICE_COHERENT : 0) |
      (p.deviceThp ? MIGRATE_VMA_SELECT_COMPOUND : 0);
    if (!Number.isInteger(m.flags) || (m.flags & ~known) !== 0) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${api}: flags 0x${Number(m.flags).toString(16)} include unknown MIGRATE_VMA_SELECT_* bits for profile ${p.name}`,
      );
    }
    if (
      (m.flags & (MIGRATE_VMA_SELECT_DEVICE_PRIVATE | MIGRATE_VMA_SELECT_DEVICE_COHERENT)) !== 0 &&
      (m.pgmapOwner === undefined || m.pgmapOwner === null)
    ) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${api}: flags select device pages but pgmapOwner is ${String(m.pgmapOwner)}; no device page can match (every pgmap has an owner). Set pgmapOwner to your pgmap's owner`,
      );
    }
  }
  if (m.pgmapOwner instanceof DevPagemap || m.srcOwner instanceof DevPagemap) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${api}: the owner is a DevPagemap; pass pgmap.owner, the value the pgmap was created with`);
  }
  if (m.faultPage !== null && !p.faultPage) {
    throw new HmmlabError('ERR_PROFILE', `${api}: faultPage does not exist in profile ${p.name} (added in v6.1)`);
  }
  if (!mm.mmapLock.isHeldByCurrent()) {
    throw new HmmlabError(
      'ERR_NOT_LOCKED',
      `${api}: the mmap lock is not held (walk_page_range asserts it); take mm.mmapLock.downRead() around the migration`,
    );
  }
}

/** True when `do_swap_page` locks the fault page before `migrate_to_ram` (1afaeb8293c9, ~6.15). */
function faultPageLocked(mm: Mm): boolean {
  return mm.profile.devicePrivateFault === 'trylock';
}

/** What {@link collectOne} returns for a page of a large folio that must be split first. */
const COLLECT_SPLIT = -1;

/**
 * The per-entry decision of `migrate_vma_collect_pmd`; returns the src entry (0: skipped), or,
 * with `split` (profile `largeFolioCollect: 'split'`), {@link COLLECT_SPLIT} for an entry of a
 * page of a large folio, before it changes anything: the caller splits the folio and asks again
 * without `split`.
 */
function collectOne(
  k: Kernel,
  m: MigrateVma,
  mm: Mm,
  vma: Vma,
  i: number,
  inv: number,
  counter: { cpages: number },
  split: boolean,
): number {
  const p = mm.profile;
  // The entry's index, not its address: an address is no small integer, and V8 would box it in a heap number for the call.
  const addr = m.start + i * k.pageSize;
  const vpn = Math.floor(addr / k.pageSize);
  const e = mm.pt.get(vpn) ?? 0;
  const kind = pteKindOf(e);
  const flagsMode = p.migrateSelect === 'flags';
  const selectSystem = flagsMode ? (m.flags & MIGRATE_VMA_SELECT_SYSTEM) !== 0 : m.srcOwner === undefined;
  if (e === 0) {
    if (vma.anonymous) {
      counter.cpages++;
      return MIGRATE_PFN_MIGRATE;
    }
    return 0;
  }
  let page: Page;
  let mpfn: number;
  if (kind !== PTE_PRESENT) {
    if (kind !== PTE_DEVICE_PRIVATE) {
      // A migration or device-exclusive entry of a large folio's page is split all the same.
      if (split && (kind === PTE_MIGRATION || kind === PTE_DEVICE_EXCLUSIVE) && k.pages.pfnToPage(ptePfn(e))?.large === true) {
        return COLLECT_SPLIT;
      }
      return 0;
    }
    page = k.pages.page(ptePfn(e));
    if (split && page.large) return COLLECT_SPLIT;
    const owner = (page.pgmap as DevPagemap).owner;
    const ok = flagsMode
      ? (m.flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) !== 0 && owner === m.pgmapOwner
      : m.srcOwner !== undefined && owner === m.srcOwner;
    if (!ok) return 0;
    mpfn = migratePfn(page.pfn) + MIGRATE_PFN_MIGRATE + (pteWrite(e) ? MIGRATE_PFN_WRITE : 0);
  } else {
    const pfn = ptePfn(e);
    if (split && k.pages.pfnToPage(pfn)?.large === true) return COLLECT_SPLIT;
    if (!flagsMode && m.srcOwner !== undefined) return 0;
    if (pfn === k.pages.zeroPage.pfn) {
      if (!selectSystem) return 0;
      counter.cpages++;
      return MIGRATE_PFN_MIGRATE;
    }
    page = k.pages.page(pfn);
    if (!page.isZoneDevice && !selectSystem) return 0;
    // 6.1: `PageTransCompound(page)`: a page of a PTE-mapped large folio is not migrated.
    if (page.large) return 0;
    if (page.isDeviceCoherent) {
      const owner = (page.pgmap as DevPagemap).owner;
      if ((m.flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) === 0 || owner !== m.pgmapOwner) return 0;
    }
    mpfn = migratePfn(pfn) + MIGRATE_PFN_MIGRATE + (pteWrite(e) ? MIGRATE_PFN_WRITE : 0);
  }
  if (!page.anon && page.file === null) return 0; // !page->mapping
  k.pages.getPage(page);
  // Since 1afaeb8293c9 (~6.15) do_swap_page locks the fault page itself; before, collect trylocks it like any other.
  const faultLocked = faultPageLocked(mm) ? m.faultPage : null;
  if (page === faultLocked || k.pages.trylockPage(page)) {
    const anonExclusive = page.anon && page.anonExclusive;
    if (anonExclusive) {
      if (page.pins > 0) {
        // folio_try_share_anon_rmap_pte failed: restore the entry, skip the page.
        if (page !== faultLocked) k.pages.unlockPage(page);
        k.pages.putPage(page);
        return 0;
      }
      page.anonExclusive = false;
    }
    counter.cpages++;
    if (kind === PTE_PRESENT && (pteFlags(e) & PTE_DIRTY) !== 0) page.dirty = true;
    mm.setPte(vpn, migrationEntryFor(e, page, (mpfn & MIGRATE_PFN_WRITE) !== 0, anonExclusive), inv, 'migrate-collect');
    mm.rmapReplace(page, page, addr, true, false);
    k.pages.putPage(page);
    return mpfn;
  }
  k.pages.putPage(page);
  return 0;
}

/**
 * `migrate_vma_collect_huge_pmd` (mm/migrate_device.c, profile `latest` with
 * `MIGRATE_VMA_SELECT_COMPOUND`) for the PMD-aligned block at `haddr`, whose entries start at
 * `src[i0]`: a PMD-sized hole or huge zero PMD becomes one compound hole entry
 * (`migrate_vma_collect_hole`), a PMD-mapped THP or a device-private PMD of the caller's owner one
 * compound entry behind a PMD migration entry (`set_pmd_migration_entry`); a PMD that does not
 * match the selection, or whose folio lock is taken, is skipped (`migrate_vma_collect_skip`). The
 * other `HPAGE_PMD_NR - 1` entries are 0. Returns false when the block is a page table (the caller
 * collects it entry by entry) or the migration entry could not be set (a pinned page: the caller
 * splits the folio, the `fallback` path).
 */
function collectHugePmd(
  k: Kernel,
  m: MigrateVma,
  mm: Mm,
  vma: Vma,
  haddr: number,
  src: PfnArray,
  i0: number,
  inv: number,
  counter: { cpages: number },
): boolean {
  const kind = hugePmdAt(mm, haddr);
  const size = pmdSize(mm);
  const ps = k.pageSize;
  for (let j = 0; j < HPAGE_PMD_NR; j++) src[i0 + j] = 0;
  if (kind === undefined || kind === 'zero') {
    if (kind === undefined && mm.anyPteInRange(haddr, haddr + size)) return false;
    if (kind === 'zero' && (m.flags & MIGRATE_VMA_SELECT_SYSTEM) === 0) return true;
    // migrate_vma_collect_hole: only anonymous memory is populated.
    if (!vma.anonymous) return true;
    src[i0] = MIGRATE_PFN_MIGRATE + MIGRATE_PFN_COMPOUND;
    counter.cpages++;
    return true;
  }
  if (kind !== 'thp' && kind !== 'device-private') return true; // a PMD migration entry: somebody else migrates it
  const first = haddr / ps;
  const e0 = mm.pt.get(first) ?? 0;
  const head = k.pages.page(ptePfn(e0)).folio;
  if (kind === 'thp' && (m.flags & MIGRATE_VMA_SELECT_SYSTEM) === 0) return true;
  if (kind === 'device-private' && !selectsDevicePrivatePmd(k, m, mm, haddr)) return true;
  const write = pteWrite(e0);
  const faultLocked = faultPageLocked(mm) ? m.faultPage?.folio : undefined;
  k.pages.getPage(head);
  if (head !== faultLocked && !k.pages.trylockPage(head)) {
    k.pages.putPage(head);
    return true;
  }
  const pages: Page[] = [];
  for (let j = 0; j < HPAGE_PMD_NR; j++) pages.push(k.pages.page(head.pfn + j));
  // set_pmd_migration_entry: folio_try_share_anon_rmap_pmd fails on a pinned folio.
  const anonExclusive = head.anon && head.anonExclusive;
  if (anonExclusive && pages.some((p) => p.pins > 0)) {
    if (head !== faultLocked) k.pages.unlockPage(head);
    k.pages.putPage(head);
    return false;
  }
  for (let j = 0; j < HPAGE_PMD_NR; j++) {
    const p = pages[j] as Page;
    const va = haddr + j * ps;
    const e = mm.pt.get(first + j) ?? 0;
    if (kind === 'thp' && (pteFlags(e) & PTE_DIRTY) !== 0) head.dirty = true;
    p.anonExclusive = false;
    mm.setPte(first + j, migrationEntryFor(e, p, write, anonExclusive), inv, 'migrate-collect-huge-pmd');
    mm.rmapReplace(p, p, va, true, false);
  }
  // The PMD's reference becomes the one collect holds (as for a base page); the model's per-page
  // references of the tail pages stay with them until finalize.
  k.pages.putPage(head);
  mm.hugePmds.set(haddr / size, 'migration');
  src[i0] = migratePfn(head.pfn) + MIGRATE_PFN_MIGRATE + MIGRATE_PFN_COMPOUND + (write ? MIGRATE_PFN_WRITE : 0);
  counter.cpages++;
  return true;
}

/** True if `m` selects the device-private PMD at `haddr`: `MIGRATE_VMA_SELECT_DEVICE_PRIVATE` and its owner. */
function selectsDevicePrivatePmd(k: Kernel, m: MigrateVma, mm: Mm, haddr: number): boolean {
  const head = k.pages.page(ptePfn(mm.pt.get(haddr / k.pageSize) ?? 0));
  return (m.flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) !== 0 && (head.pgmap as DevPagemap).owner === m.pgmapOwner;
}

/**
 * `try_to_migrate` of a compound entry's folio (mm/rmap.c `try_to_migrate_one` on a PMD-mapped
 * folio, the newest tree): every other PMD that still maps it (another process after `fork`)
 * becomes a PMD migration entry (`set_pmd_migration_entry`) under a `MMU_NOTIFY_CLEAR`
 * invalidation of the huge page, and drops its references, so that `migrate_device_unmap` finds
 * the folio unmapped. Mappings of single pages of the folio are left to that step.
 */
async function tryToMigrateHugePmds(k: Kernel, head: Page): Promise<void> {
  const ps = k.pageSize;
  const mms = head.rmapMm;
  const vas = head.rmapVa;
  for (let r = 0; r < mms.length; r++) {
    const m = mms[r] as Mm;
    const va = vas[r] as number;
    const size = pmdSize(m);
    const kind = offsetIn(va, size) === 0 ? m.hugePmds.get(va / size) : undefined;
    if (kind !== 'thp' && kind !== 'device-private') continue;
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, m, va, va + size);
    await mmuNotifierInvalidateRangeStart(range);
    await k.sched.yield();
    const first = va / ps;
    const e0 = m.pt.get(first) ?? 0;
    if (m.hugePmds.get(va / size) === kind && ptePfn(e0) === head.pfn && pteKindOf(e0) !== PTE_MIGRATION) {
      for (let j = 0; j < HPAGE_PMD_NR; j++) {
        const p = k.pages.page(head.pfn + j);
        const e = m.pt.get(first + j) ?? 0;
        if (kind === 'thp' && (pteFlags(e) & PTE_DIRTY) !== 0) head.dirty = true;
        m.setPte(first + j, migrationEntryFor(e, p, pteWrite(e), false), range.id, 'try-to-migrate-huge-pmd');
        m.rmapReplace(p, p, va + j * ps, true, false);
        k.pages.putPage(p);
      }
      m.hugePmds.set(va / size, 'migration');
    }
    await mmuNotifierInvalidateRangeEnd(range);
  }
}

/**
 * `migrate_vma_setup`: collects and unmaps the pages of `[start, end)` that the selection allows,
 * leaving them locked behind migration entries. Returns 0 or `-EINVAL`; `cpages` says how many
 * entries will migrate. The caller holds the mmap lock.
 */
export async function migrateVmaSetup(args: MigrateVma): Promise<number> {
  const api = 'migrate_vma_setup';
  const vma = args.vma;
  if (vma === null || vma.mm === null) return -EINVAL;
  // mm/migrate_device.c migrate_vma_setup: hugetlb VMAs (is_vm_hugetlb_page) and VM_SPECIAL
  // mappings (vm_insert_page's VM_MIXEDMAP, raw-pfn VM_PFNMAP, VM_IO) are refused.
  if (vma.hugetlb) return -EINVAL;
  if ((vma.flags & (VM_IO | VM_PFNMAP | VM_MIXEDMAP)) !== 0) return -EINVAL;
  const mm = vma.mm;
  const k = mm.kernel;
  checkArgs(api, args, mm);
  const ps = k.pageSize;
  const nrPages = Math.floor((args.end - args.start) / ps);
  args.start -= args.start % ps;
  args.end -= args.end % ps;
  if (nrPages <= 0) return -EINVAL;
  if (args.start < vma.start || args.start >= vma.end) return -EINVAL;
  if (args.end <= vma.start || args.end > vma.end) return -EINVAL;
  if (args.faultPage !== null && !args.faultPage.isDevicePrivate) return -EINVAL;
  if (args.faultPage !== null && faultPageLocked(mm) && !args.faultPage.locked) return -EINVAL;
  args.src = unboundPfns(args.src);
  args.dst = unboundPfns(args.dst);
  if (args.src.length < nrPages || args.dst.length < nrPages) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `${api}: src has ${args.src.length} and dst ${args.dst.length} entries; [${hex(args.start)}, ${hex(args.end)}) needs ${nrPages} in each`,
    );
  }
  // From here the driver sees the range's entries only.
  args.src = rangePfns(args.src, nrPages, api, 'src');
  args.dst = rangePfns(args.dst, nrPages, api, 'dst');
  // The kernel's own loops use the arrays behind the views: the bounds are its own.
  const src = unboundPfns(args.src);
  const dst = unboundPfns(args.dst);
  for (let i = 0; i < nrPages; i++) {
    src[i] = 0;
    dst[i] = 0;
  }
  args.cpages = 0;
  args.npages = 0;

  // migrate_vma_collect
  const p = mm.profile;
  const owner = p.migrateSelect === 'flags' ? args.pgmapOwner : args.srcOwner;
  const range = mmuNotifierRangeInitOwner(
    p.collectEvent,
    0,
    mm,
    args.start,
    args.end,
    p.collectEvent === MMU_NOTIFY_MIGRATE ? owner : undefined,
  );
  await mmuNotifierInvalidateRangeStart(range);
  await k.sched.yield();
  // migrate_vma_collect_pmd: a PMD-mapped THP (or huge zero page) is split first; a PMD whose
  // folio lock is contended is skipped (migrate_vma_collect_skip).
  const skipPmds = new Set<number>();
  const hsize = pmdSize(mm);
  const counter = { cpages: 0 };
  // Profile latest with MIGRATE_VMA_SELECT_COMPOUND: each PMD-aligned block the range covers
  // whole goes through migrate_vma_collect_huge_pmd first.
  const compoundPmds = new Set<number>();
  if (p.deviceThp && (args.flags & MIGRATE_VMA_SELECT_COMPOUND) !== 0) {
    for (let haddr = Math.ceil(args.start / hsize) * hsize; haddr + hsize <= args.end; haddr += hsize) {
      if (collectHugePmd(k, args, mm, vma, haddr, src, (haddr - args.start) / ps, range.id, counter)) compoundPmds.add(haddr / hsize);
    }
  }
  for (const idx of hugePmdsIn(mm, args.start, args.end)) {
    if (compoundPmds.has(idx)) continue;
    // Profile latest (migrate_vma_collect_huge_pmd): a device-private PMD the selection excludes,
    // or a PMD migration entry, is skipped whole, never split.
    const kind = mm.hugePmds.get(idx);
    if (kind === 'migration' || (kind === 'device-private' && !selectsDevicePrivatePmd(k, args, mm, idx * hsize))) {
      skipPmds.add(idx);
      continue;
    }
    if (!(await splitHugePage(mm, idx * hsize))) skipPmds.add(idx);
  }
  // Profile latest (migrate_vma_collect_pmd): a PTE-mapped page of a large folio is split first
  // (split_folio); if the split fails, the entry is skipped.
  const split = p.largeFolioCollect === 'split';
  const compound = compoundPmds.size > 0;
  const skip = skipPmds.size > 0;
  // dst is all zeros already; src[i] of a compound block was filled by collectHugePmd (the head
  // entry, then HPAGE_PMD_NR - 1 zeros).
  for (let i = 0; i < nrPages; i++) {
    const addr = args.start + i * ps;
    args.npages++;
    if (compound && compoundPmds.has(Math.floor(addr / hsize))) continue;
    if (skip && skipPmds.has(Math.floor(addr / hsize))) {
      src[i] = 0;
      continue;
    }
    const s = collectOne(k, args, mm, vma, i, range.id, counter, split);
    // split_huge_page may leave the page in a folio (a device-private one): it is collected as it is then.
    src[i] = s !== COLLECT_SPLIT ? s : (await splitHugePage(mm, addr)) ? collectOne(k, args, mm, vma, i, range.id, counter, false) : 0;
  }
  await mmuNotifierInvalidateRangeEnd(range);
  args.cpages = counter.cpages;
  args.end = args.start + args.npages * ps;
  // The rest of try_to_migrate for a compound entry's folio still PMD-mapped elsewhere.
  for (const idx of compoundPmds) {
    const pg = migratePfnToPage(k, src[(idx * hsize - args.start) / ps] as number);
    if (pg !== null && pg.mapcount > 0) await tryToMigrateHugePmds(k, pg);
  }

  if (args.cpages > 0) args.cpages = await migrateDeviceUnmap(k, src, args.npages, args.faultPage, faultPageLocked(mm));
  const srcCopy = new Float64Array(args.npages);
  for (let i = 0; i < args.npages; i++) srcCopy[i] = src[i] as number;
  (args as WithState)[STATE] = { stage: 'setup', srcCopy, mm, kernel: k };
  return 0;
}

function stateOf(api: string, args: MigrateVma, stage: MigrateState['stage']): MigrateState {
  const st = (args as WithState)[STATE];
  if (st === undefined) {
    throw new HmmlabError('ERR_STATE', `${api}: this MigrateVma was not set up; call migrateVmaSetup first`);
  }
  if (st.stage !== stage) {
    throw new HmmlabError(
      'ERR_STATE',
      `${api}: called after ${st.stage === 'pages' ? 'migrateVmaPages' : 'migrateVmaFinalize'}; the order is setup → pages → finalize, once each`,
    );
  }
  return st;
}

function checkDst(api: string, args: MigrateVma, st: MigrateState): void {
  const k = st.kernel;
  const allowed =
    MIGRATE_PFN_VALID |
    MIGRATE_PFN_WRITE |
    (st.mm.profile.migratePfnLocked ? MIGRATE_PFN_LOCKED : 0) |
    (st.mm.profile.deviceThp ? MIGRATE_PFN_COMPOUND : 0);
  const src = unboundPfns(args.src);
  const dst = unboundPfns(args.dst);
  for (let i = 0; i < args.npages; i++) {
    if ((src[i] as number) !== st.srcCopy[i]) {
      throw new HmmlabError(
        'ERR_STATE',
        `${api}: src[${i}] changed after migrateVmaSetup (from ${st.srcCopy[i]} to ${args.src[i]}); the caller must not modify src`,
      );
    }
    const d = dst[i] as number;
    if (d === 0) continue;
    if ((d & 63 & ~allowed) !== 0) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${api}: dst[${i}] = ${d} has flag bits 0x${(d & 63 & ~allowed).toString(16)} a destination may not carry; build it as migratePfn(pfn)${st.mm.profile.migratePfnLocked ? ' | MIGRATE_PFN_LOCKED' : ''} (| MIGRATE_PFN_WRITE)`,
      );
    }
    const page = migratePfnToPage(k, d);
    if (page === null) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${api}: dst[${i}] = ${d} lacks MIGRATE_PFN_VALID or names no page; build it with migratePfn(page.pfn)`,
      );
    }
    if ((d & MIGRATE_PFN_COMPOUND) !== 0 && (page.order !== HPAGE_PMD_ORDER || i + HPAGE_PMD_NR > args.npages)) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${api}: dst[${i}] has MIGRATE_PFN_COMPOUND but ${page.order !== HPAGE_PMD_ORDER ? `${String(page)} does not head a PMD-sized folio (order ${page.order})` : `only ${args.npages - i} entries follow it`}; a compound destination is the head of an order-${HPAGE_PMD_ORDER} folio for ${HPAGE_PMD_NR} entries`,
      );
    }
    if (page.free || !page.locked) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${api}: dst[${i}] is ${String(page)}, which is ${page.free ? 'free' : 'not locked'}; destination pages must be allocated and locked (zoneDevicePageInit, or allocPage + lockPage)`,
      );
    }
  }
}

/**
 * `migrate_vma_pages`: for each entry with a destination, moves the page over (holes are mapped
 * here, inside a second invalidation from the first hole to the end). Entries without a
 * destination stop migrating. Device page tables may be updated after this returns.
 */
export async function migrateVmaPages(args: MigrateVma): Promise<void> {
  const api = 'migrate_vma_pages';
  const st = stateOf(api, args, 'setup');
  checkDst(api, args, st);
  st.stage = 'pages';
  const vma = args.vma as Vma;
  const p = st.mm.profile;
  await migrateDevicePagesCore(st.kernel, unboundPfns(args.src), unboundPfns(args.dst), args.npages, {
    mm: st.mm,
    anonymous: vma.anonymous,
    writable: vma.writable,
    start: args.start,
    end: args.end,
    owner: p.migrateSelect === 'flags' ? args.pgmapOwner : args.srcOwner,
    faultPage: args.faultPage,
  });
}

/**
 * `migrate_vma_finalize`: migration entries become mappings of the new pages where the entry
 * migrated, of the old ones elsewhere; pages are unlocked and released. Fires no invalidation.
 */
export function migrateVmaFinalize(args: MigrateVma): void {
  const api = 'migrate_vma_finalize';
  const st = (args as WithState)[STATE];
  if (st === undefined || st.stage === 'finalized') {
    throw new HmmlabError('ERR_STATE', `${api}: ${st === undefined ? 'this MigrateVma was not set up' : 'already finalized'}`);
  }
  if (st.stage === 'setup') {
    // Without migrate_vma_pages, an entry with a destination would be remapped to a page whose
    // metadata was never migrated.
    checkDst(api, args, st);
    for (let i = 0; i < args.npages; i++) {
      if ((args.dst[i] as number) !== 0 && ((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) {
        throw new HmmlabError(
          'ERR_STATE',
          `${api}: dst[${i}] is set but migrateVmaPages was not called; call migrateVmaPages before migrateVmaFinalize`,
        );
      }
    }
  }
  st.stage = 'finalized';
  migrateDeviceFinalizeCore(st.kernel, unboundPfns(args.src), unboundPfns(args.dst), args.npages, args.faultPage, faultPageLocked(st.mm));
}
