/**
 * `hmm_range_fault` (mm/hmm.c): snapshots (and optionally faults in) the CPU page table of a
 * range for a device. Own device-private pages come back as they are; foreign ones are faulted
 * back through their owner's `migrate_to_ram`; only a notifier collision escapes as `-EBUSY`.
 *
 * Output entries keep the kernel's flag names but the model puts the flags in the low bits
 * (`pfn << HMM_PFN_SHIFT | flags`), so `entry & HMM_PFN_VALID` works on JavaScript numbers.
 */
import { offsetIn } from '../align.js';
import { EBUSY, EFAULT, EPERM, HmmlabError, hex } from '../errors.js';
import type { Kernel } from '../kernel.js';
import { DevPagemap } from '../migrate/memremap.js';
import { type PfnArray, rangePfns, unboundPfns } from '../migrate/migrate-core.js';
import { VM_IO, VM_PFNMAP } from '../mm/constants.js';
import { handleMmFault, VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV } from '../mm/fault.js';
import { HPAGE_PMD_ORDER, hugePmdAt, pmdSize } from '../mm/huge.js';
import type { Mm } from '../mm/mm.js';
import type { Page } from '../mm/page.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SWAP,
  pteFlags,
  pteKindOf,
  ptePfn,
  pteWrite,
} from '../mm/pte.js';
import { type MmuIntervalNotifier, mmuIntervalCheckRetry } from '../notifier/interval-notifier.js';

/** Output: the entry points at a valid page, at least readable. Input: `HMM_PFN_REQ_FAULT`. */
export const HMM_PFN_VALID = 1 << 0;
/** Output: writable. Input: `HMM_PFN_REQ_WRITE`. */
export const HMM_PFN_WRITE = 1 << 1;
/** Output: the page cannot be accessed (no VMA, no read permission, special page). */
export const HMM_PFN_ERROR = 1 << 2;
/** Input: fault the page in if it is not present. */
export const HMM_PFN_REQ_FAULT = HMM_PFN_VALID;
/** Input: fault it in writable (needs `HMM_PFN_REQ_FAULT`). */
export const HMM_PFN_REQ_WRITE = HMM_PFN_WRITE;
const ORDER_SHIFT = 3;
/** Bits below the pfn. */
export const HMM_PFN_SHIFT = 8;
/** Mask of every flag bit. */
export const HMM_PFN_FLAGS = (1 << HMM_PFN_SHIFT) - 1;
const MUL = 1 << HMM_PFN_SHIFT;

/** `hmm_pfn_to_pfn`. */
export function hmmPfnToPfn(hmmPfn: number): number {
  return Math.floor(hmmPfn / MUL);
}

/** `hmm_pfn_to_page`. */
export function hmmPfnToPage(kernel: Kernel, hmmPfn: number): Page {
  return kernel.pages.page(hmmPfnToPfn(hmmPfn));
}

/**
 * `hmm_pfn_to_map_order`: log2 of the CPU mapping size in pages: 9 for a page of a PMD-mapped
 * THP or hugetlb page (mm/hmm.c `hmm_vma_handle_pmd`, `hmm_vma_walk_hugetlb_entry`), else 0.
 */
export function hmmPfnToMapOrder(hmmPfn: number): number {
  return (hmmPfn >> ORDER_SHIFT) & 0x1f;
}

/** `struct hmm_range`. */
export interface HmmRange {
  /** The interval notifier whose sequence guards the walk. */
  notifier: MmuIntervalNotifier;
  /** The value `mmuIntervalReadBegin` returned. */
  notifierSeq: number;
  /** First address (inclusive, page aligned). */
  start: number;
  /** End address (exclusive, page aligned). */
  end: number;
  /** One entry per page: input request flags (with `pfnFlagsMask`), output pfn and flags. */
  hmmPfns: PfnArray;
  /** Request flags applied to every page. */
  defaultFlags: number;
  /** Which bits of each `hmmPfns` entry are per-page requests. */
  pfnFlagsMask: number;
  /** Device-private pages of this owner are returned as they are, never faulted. */
  devPrivateOwner: unknown;
}

const NEED_FAULT = 1;
const NEED_WRITE_FAULT = 2;

/** `hmm_pte_need_fault`. */
function needFault(req: number, cpu: number): number {
  if ((req & HMM_PFN_REQ_FAULT) === 0) return 0;
  if ((req & HMM_PFN_REQ_WRITE) !== 0 && (cpu & HMM_PFN_WRITE) === 0) return NEED_FAULT | NEED_WRITE_FAULT;
  if ((cpu & HMM_PFN_VALID) === 0) return NEED_FAULT;
  return 0;
}

function check(range: HmmRange, mm: Mm): void {
  const k = mm.kernel;
  const api = 'hmm_range_fault';
  if (range.start % k.pageSize !== 0 || range.end % k.pageSize !== 0 || range.end <= range.start) {
    throw new HmmlabError(
      'ERR_UNALIGNED',
      `${api}: range [${hex(range.start)}, ${hex(range.end)}) must be a non-empty page-aligned range (page size ${k.pageSize})`,
    );
  }
  const n = (range.end - range.start) / k.pageSize;
  range.hmmPfns = unboundPfns(range.hmmPfns);
  if (range.hmmPfns.length < n) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `${api}: hmmPfns has ${range.hmmPfns.length} entries; [${hex(range.start)}, ${hex(range.end)}) needs ${n}`,
    );
  }
  // From here the driver sees the range's entries only.
  range.hmmPfns = rangePfns(range.hmmPfns, n, api, 'hmmPfns');
  if (range.devPrivateOwner instanceof DevPagemap) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `${api}: devPrivateOwner is a DevPagemap; pass pgmap.owner, the value the pgmap was created with`,
    );
  }
  if (!mm.mmapLock.isHeldByCurrent()) {
    throw new HmmlabError(
      'ERR_NOT_LOCKED',
      `${api}: the mmap lock is not held (mmap_assert_locked); take mm.mmapLock.downRead() around the call`,
    );
  }
}

type Walk =
  | { kind: 'ok' }
  | { kind: 'fault'; addr: number; write: boolean }
  | { kind: 'wait'; addr: number; page: Page }
  | { kind: 'error'; ret: number };

/** One pass of the page walk from `from`; stops at the first page that needs a fault. */
function walk(range: HmmRange, mm: Mm, from: number): Walk {
  const k = mm.kernel;
  const ps = k.pageSize;
  for (let addr = from; addr < range.end; addr += ps) {
    const i = (addr - range.start) / ps;
    const req = ((range.hmmPfns[i] as number) & range.pfnFlagsMask) | range.defaultFlags;
    const vma = mm.findVma(addr);
    if (vma === undefined || (vma.flags & (VM_IO | VM_PFNMAP)) !== 0 || !vma.readable) {
      if (needFault(req, 0) !== 0) return { kind: 'error', ret: -EFAULT };
      range.hmmPfns[i] = HMM_PFN_ERROR;
      continue;
    }
    const e = mm.pte(addr);
    const kind = pteKindOf(e);
    if (e === 0) {
      const nf = needFault(req, 0);
      if (nf !== 0) return faultOrPerm(vma.writable, addr, nf);
      range.hmmPfns[i] = 0;
      continue;
    }
    if (kind === PTE_PRESENT) {
      const cpu = (pteFlags(e) & PTE_PROTNONE) !== 0 ? 0 : HMM_PFN_VALID | (pteWrite(e) ? HMM_PFN_WRITE : 0);
      const nf = needFault(req, cpu);
      if (nf !== 0) return faultOrPerm(vma.writable, addr, nf);
      // pte_pfn | cpu_flags: a protnone entry reports its pfn without flags. Under a PMD
      // mapping, hmm_vma_handle_pmd adds hmm_pfn_flags_order(PMD_SHIFT - PAGE_SHIFT).
      const order = mm.hugePmds.size > 0 && hugePmdAt(mm, addr) !== undefined ? HPAGE_PMD_ORDER << ORDER_SHIFT : 0;
      range.hmmPfns[i] = ptePfn(e) * MUL + cpu + order;
      continue;
    }
    if (kind === PTE_DEVICE_PRIVATE) {
      const page = k.pages.page(ptePfn(e));
      const owner = (page.pgmap as DevPagemap).owner;
      const own = range.devPrivateOwner !== undefined && range.devPrivateOwner !== null && owner === range.devPrivateOwner;
      if (own || !mm.profile.hmmChecksPrivateOwner) {
        // Profile latest: a device-private PMD reports map order 9 (mm/hmm.c
        // hmm_vma_handle_absent_pmd, hmm_pfn_flags_order(HPAGE_PMD_ORDER)).
        const order = mm.hugePmds.size > 0 && hugePmdAt(mm, addr) === 'device-private' ? HPAGE_PMD_ORDER << ORDER_SHIFT : 0;
        range.hmmPfns[i] = page.pfn * MUL + HMM_PFN_VALID + (pteWrite(e) ? HMM_PFN_WRITE : 0) + order;
        continue;
      }
    }
    const nf = needFault(req, 0);
    if (nf === 0) {
      range.hmmPfns[i] = 0;
      continue;
    }
    if (kind === PTE_SWAP || kind === PTE_DEVICE_EXCLUSIVE) return faultOrPerm(vma.writable, addr, nf);
    if (kind === PTE_DEVICE_PRIVATE) {
      if (!mm.profile.hmmFaultsForeignPrivate) return { kind: 'error', ret: -EFAULT };
      return faultOrPerm(vma.writable, addr, nf);
    }
    if (kind === PTE_MIGRATION) return { kind: 'wait', addr, page: k.pages.page(ptePfn(e)) };
    return { kind: 'error', ret: -EFAULT };
  }
  return { kind: 'ok' };
}

function faultOrPerm(writable: boolean, addr: number, nf: number): Walk {
  if ((nf & NEED_WRITE_FAULT) !== 0 && !writable) return { kind: 'error', ret: -EPERM };
  return { kind: 'fault', addr, write: (nf & NEED_WRITE_FAULT) !== 0 };
}

/**
 * `hmm_range_fault`: fills `range.hmmPfns`. Returns 0, `-EBUSY` (an invalidation collided since
 * `notifierSeq`: retry from `mmuIntervalReadBegin`), `-EFAULT`, `-EPERM` or `-EINVAL`. The caller
 * holds the mmap read lock; faulting may sleep.
 */
export async function hmmRangeFault(range: HmmRange): Promise<number> {
  const mm = range.notifier.mm;
  if (mm === null) {
    throw new HmmlabError('ERR_NOT_INSERTED', `hmm_range_fault: range.notifier "${range.notifier.name}" is not inserted`);
  }
  check(range, mm);
  const k = mm.kernel;
  let from = range.start;
  for (;;) {
    await k.sched.yield();
    if (mmuIntervalCheckRetry(range.notifier, range.notifierSeq)) return -EBUSY;
    const w = walk(range, mm, from);
    if (w.kind === 'ok') return 0;
    if (w.kind === 'error') return w.ret;
    if (w.kind === 'wait') {
      // migration_entry_wait, then the walk restarts at that entry (hmm_vma_walk->last = addr):
      // the entries before it already hold their output, which must not be re-read as requests.
      from = w.addr;
      await k.pages.waitOnPageLocked(w.page);
      continue;
    }
    from = w.addr;
    const vma = mm.findVma(w.addr);
    if (vma === undefined) return -EFAULT;
    // hmm_vma_fault (mm/hmm.c) faults every page from the first that needs it to the end of the
    // walk's step: the range's end, the VMA's end or the next PMD boundary (walk_pmd_range's
    // pmd_addr_end), whichever comes first, with that page's fault flags. A later page of the
    // step is faulted even when it needs nothing, so an own device-private page there goes back
    // through migrate_to_ram.
    const pmd = pmdSize(mm);
    const stepEnd = Math.min(range.end, vma.end, w.addr - offsetIn(w.addr, pmd) + pmd);
    for (let addr = w.addr; addr < stepEnd; addr += k.pageSize) {
      const r = await handleMmFault(mm, vma, addr, w.write);
      if ((r & (VM_FAULT_SIGSEGV | VM_FAULT_SIGBUS | VM_FAULT_OOM)) !== 0) return -EFAULT;
    }
  }
}
