/**
 * `lost-write` and `stale-read`, against a ghost copy of memory: the last value written to every
 * word, and the page it landed on. Private memory is keyed by (mm, va), shared file and shmem
 * memory by (file, offset), so forked children and shared mappings see what they should.
 */
import { hex, type Mm, ptePfn, type TraceEvent } from '@hmmlab/core';
import type { OracleContext } from '../context.js';
import { backingPfn, isMigrating } from '../view.js';

interface GhostWord {
  value: number;
  /** Page the write landed on. */
  pfn: number;
  step: number;
}

/** The words of one page, by their index in the page (accesses are word-aligned). */
type PageWords = (GhostWord | undefined)[];

/** The ghost copy of memory. */
export class GhostMemory {
  /**
   * Private memory: mm id → virtual page number → the page's words by index (number keys: no
   * string built per access, and no map per page). Bucketed by page, so unmapping or moving a page
   * touches only that page's words.
   */
  private readonly private = new Map<number, Map<number, PageWords>>();
  /** Shared file and shmem memory, by (file, page index, offset in the page). */
  private readonly shared = new Map<string, GhostWord>();
  private readonly pageSize: number;
  private readonly wordSize: number;

  /** Slots a page's array of words starts with: its words, up to four. */
  private readonly firstSlots: number;

  constructor(pageSize: number, wordSize: number) {
    this.pageSize = pageSize;
    this.wordSize = wordSize;
    this.firstSlots = Math.min(4, Math.max(1, Math.floor(pageSize / wordSize)));
  }

  /** The shared-memory key of `va` in `mm`, or null for private memory. */
  private sharedKey(mm: Mm, va: number): string | null {
    const vma = mm.lookupVma(va);
    if (vma?.shared && vma.file !== null) {
      const k = mm.kernel;
      return `f${vma.file.id}:${vma.fileIndex(va, k.pageSize)}:${k.pageOffset(va)}`;
    }
    return null;
  }

  private pages(mm: number): Map<number, PageWords> {
    let p = this.private.get(mm);
    if (p === undefined) {
      p = new Map();
      this.private.set(mm, p);
    }
    return p;
  }

  /** Sets the private word at `va` of `mm`. */
  private setPrivate(pages: Map<number, PageWords>, va: number, w: GhostWord): void {
    const vpn = Math.floor(va / this.pageSize);
    let words = pages.get(vpn);
    if (words === undefined) {
      // Room for a few words at once: an empty array's first store reserves 17 slots, and the
      // pages of a run (512 of a THP region) live as long as the run.
      words = new Array(this.firstSlots);
      pages.set(vpn, words);
    }
    words[(va - vpn * this.pageSize) / this.wordSize] = w;
  }

  /** A write landed on `pfn`: it becomes what reads must return. */
  write(mm: Mm, va: number, value: number, pfn: number, step: number): void {
    const key = this.sharedKey(mm, va);
    if (key !== null) this.shared.set(key, { value, pfn, step });
    else this.setPrivate(this.pages(mm.id), va, { value, pfn, step });
  }

  get(mm: Mm, va: number): GhostWord | undefined {
    const key = this.sharedKey(mm, va);
    if (key !== null) return this.shared.get(key);
    const vpn = Math.floor(va / this.pageSize);
    return this.private.get(mm.id)?.get(vpn)?.[(va - vpn * this.pageSize) / this.wordSize];
  }

  /**
   * Takes the private words of `mm` in `[start, end)` out of the ghost, calling `take` on each.
   * Walks only the pages of the range, or only the pages that
   * hold words when the range is larger.
   */
  private remove(mm: number, start: number, end: number, take?: (va: number, w: GhostWord) => void): void {
    const pages = this.private.get(mm);
    if (pages === undefined || end <= start) return;
    const first = Math.floor(start / this.pageSize);
    const last = Math.ceil(end / this.pageSize);
    if (last - first <= pages.size) for (let vpn = first; vpn < last; vpn++) this.removeIn(pages, vpn, start, end, take);
    else
      for (const vpn of [...pages.keys()].filter((v) => v >= first && v < last).sort((a, b) => a - b))
        this.removeIn(pages, vpn, start, end, take);
  }

  /** {@link GhostMemory.remove} on page `vpn`. */
  private removeIn(
    pages: Map<number, PageWords>,
    vpn: number,
    start: number,
    end: number,
    take: ((va: number, w: GhostWord) => void) | undefined,
  ): void {
    const words = pages.get(vpn);
    if (words === undefined) return;
    const base = vpn * this.pageSize;
    const whole = base >= start && base + this.pageSize <= end;
    let left = 0;
    if (!whole || take !== undefined)
      for (let i = 0; i < words.length; i++) {
        const w = words[i];
        if (w === undefined) continue;
        const va = base + i * this.wordSize;
        if (!whole && (va < start || va >= end)) {
          left++;
          continue;
        }
        take?.(va, w);
        if (!whole) words[i] = undefined;
      }
    if (whole || left === 0) pages.delete(vpn);
  }

  /** Forgets private words of `mm` in `[start, end)`: their memory was unmapped or discarded. */
  forget(mm: number, start: number, end: number): void {
    this.remove(mm, start, end);
  }

  /** Forgets private words of `mm` in `[start, end)`, returning the first one written after `step`. */
  forgetAfter(mm: number, start: number, end: number, step: number): { va: number; value: number; step: number } | null {
    let first: { va: number; value: number; step: number } | null = null;
    this.remove(mm, start, end, (va, w) => {
      if (w.step > step && (first === null || w.step < first.step)) first = { va, value: w.value, step: w.step };
    });
    return first;
  }

  /** fork: the child starts with the parent's private memory. */
  fork(parent: number, child: number): void {
    const from = this.private.get(parent);
    if (from === undefined) return;
    const to = this.pages(child);
    for (const [vpn, words] of from)
      for (let i = 0; i < words.length; i++) {
        const w = words[i];
        if (w !== undefined) this.setPrivate(to, vpn * this.pageSize + i * this.wordSize, { ...w });
      }
  }

  /** mremap: private words move with the mapping. */
  move(mm: number, from: number, to: number, len: number): void {
    const moved: [number, GhostWord][] = [];
    this.remove(mm, from, from + len, (va, w) => moved.push([va - from + to, w]));
    if (moved.length === 0) return;
    const pages = this.pages(mm);
    for (const [va, w] of moved) this.setPrivate(pages, va, w);
  }
}

/**
 * Why-tags of entry changes after which a page's old contents are gone from that address.
 * `madvise-free` clears only swap entries (madvise_free_pte_range frees the swap slot: the data is
 * discarded at once); present pages it leaves mapped, marked lazily freeable.
 */
const FORGET_WHY = new Set([
  'munmap',
  'mmap-fixed',
  'mremap-shrink',
  'mremap-fixed',
  'madvise-dontneed',
  'madvise-free',
  'exit',
  'oom-reap',
  'reclaim',
]);

/** A write reclaim discarded: the page was lazily freed at step `freedAt`, and written after it. */
export interface DiscardedWrite {
  readonly mm: number;
  readonly va: number;
  readonly value: number;
  readonly writtenAt: number;
  readonly freedAt: number;
}

/** Keeps the ghost in step with mappings, at the entry changes themselves: zaps, moves, forks. */
export class LayoutTracker {
  private moving: { mm: number; va: number } | null = null;
  private readonly ghost: GhostMemory;
  private readonly pageSize: number;
  /** Pages MADV_FREE left mapped, lazily freeable: mm id → virtual page number → the step. */
  private readonly lazy = new Map<number, Map<number, number>>();

  constructor(ghost: GhostMemory, pageSize: number) {
    this.ghost = ghost;
    this.pageSize = pageSize;
  }

  /**
   * Returns the word written after a MADV_FREE that reclaim then discarded, if any: a CPU write
   * dirties the entry, and the kernel keeps the page (mm/rmap.c, try_to_unmap_one), so the write
   * was a device's that nothing marked dirty.
   */
  onEvent(ev: TraceEvent): DiscardedWrite | null {
    if (ev.type === 'pte' && (ev.why === 'madvise-free' || ev.why === 'reclaim' || ev.new === 0)) {
      const vpn = Math.floor(ev.va / this.pageSize);
      const byVpn = this.lazy.get(ev.mm);
      const freedAt = byVpn?.get(vpn);
      if (ev.why === 'madvise-free' && ev.new !== 0) {
        let m = byVpn;
        if (m === undefined) {
          m = new Map();
          this.lazy.set(ev.mm, m);
        }
        m.set(vpn, ev.step);
      } else if (freedAt !== undefined) {
        byVpn?.delete(vpn);
        if (ev.why === 'reclaim' && ev.new === 0) {
          const w = this.ghost.forgetAfter(ev.mm, vpn * this.pageSize, (vpn + 1) * this.pageSize, freedAt);
          return w === null ? null : { mm: ev.mm, va: w.va, value: w.value, writtenAt: w.step, freedAt };
        }
      }
    }
    if (ev.type === 'fork') {
      this.ghost.fork(ev.parent, ev.child);
      return null;
    }
    if (ev.type !== 'pte') return null;
    if (ev.why === 'mremap-move') {
      // move_page_tables clears the old entry, then sets the new one: the words follow.
      if (ev.new === 0) this.moving = { mm: ev.mm, va: ev.va };
      else if (ev.old === 0 && this.moving !== null && this.moving.mm === ev.mm) {
        this.ghost.move(ev.mm, this.moving.va, ev.va, this.pageSize);
        this.moving = null;
      }
      return null;
    }
    if (ev.new === 0 && FORGET_WHY.has(ev.why)) this.ghost.forget(ev.mm, ev.va, ev.va + this.pageSize);
    return null;
  }
}

function mmById(ctx: OracleContext, id: number): Mm | undefined {
  return ctx.world.kernel.allMms().find((m) => m.id === id);
}

/** A CPU access: a read must see the last write; a write becomes the ghost. */
export function checkCpuAccess(ctx: OracleContext, ghost: GhostMemory, ev: Extract<TraceEvent, { type: 'cpu-access' }>): void {
  const mm = mmById(ctx, ev.mm);
  if (mm === undefined) return;
  if (ev.write) {
    ghost.write(mm, ev.va, ev.value, ev.pfn, ev.step);
    return;
  }
  checkRead(ctx, ghost, mm, ev.va, ev.value, ev.pfn, 'the CPU', ev);
}

/** A device access: a write must land on the page that holds the memory; a read must see the last write. */
export function checkDevAccess(ctx: OracleContext, ghost: GhostMemory, ev: Extract<TraceEvent, { type: 'dev-access' }>): void {
  const dev = ctx.world.devices.find((d) => d.name === ev.dev);
  const vm = dev?.vms.find((v) => v.id === ev.vm);
  if (dev === undefined || vm === undefined) return;
  const mm = vm.mm;
  for (const inv of ctx.invs.values()) {
    if (inv.mm === mm.id && ev.va >= inv.start && ev.va < inv.end) ctx.cover('window|device-access-during-invalidation');
  }
  if (ev.kind === 'read') {
    checkRead(ctx, ghost, mm, ev.va, ev.value, ev.pfn, dev.name, ev);
    return;
  }
  const backing = backingPfn(mm, ev.va);
  const page = ctx.world.kernel.pages.pfnToPage(ev.pfn);
  let lost: string | null = null;
  if (backing !== 0 && backing !== ev.pfn) {
    lost = `the memory of ${hex(ev.va)} is now pfn ${backing}, so the write is lost`;
  } else if (page !== undefined && ctx.copiedOut.has(ev.pfn) && isMigrating(page)) {
    lost = `pfn ${ev.pfn} was already copied to its migration destination at step ${ctx.copiedOut.get(ev.pfn)}, so the write is lost when the migration completes`;
  }
  if (lost === null) {
    ghost.write(mm, ev.va, ev.value, ev.pfn, ev.step);
    return;
  }
  ctx.report(
    {
      rule: 'lost-write',
      explanation: `${dev.name} wrote ${ev.value} to ${hex(ev.va)} through pfn ${ev.pfn} (${ev.via}); ${lost}`,
      mm: mm.id,
      va: ev.va,
      pfn: ev.pfn,
      device: dev,
    },
    ev,
  );
}

function checkRead(
  ctx: OracleContext,
  ghost: GhostMemory,
  mm: Mm,
  va: number,
  value: number,
  pfn: number,
  who: string,
  ev: TraceEvent,
): void {
  const g = ghost.get(mm, va);
  if (g === undefined || g.value === value) return;
  const backing = backingPfn(mm, va);
  const dev = ctx.world.devices.find((d) => d.name === who) ?? null;
  const stale = backing !== 0 && pfn !== backing;
  ctx.report(
    {
      rule: stale ? 'stale-read' : 'lost-write',
      explanation: stale
        ? `${who} read ${value} at ${hex(va)} from pfn ${pfn}, but the memory is pfn ${backing} and the last write (step ${g.step}) stored ${g.value}: a stale translation`
        : `${who} read ${value} at ${hex(va)} (pfn ${pfn}), but ${g.value} was written there at step ${g.step} (to pfn ${g.pfn}): that write was lost`,
      mm: mm.id,
      va,
      pfn,
      device: dev,
    },
    ev,
  );
  // Resynchronise with memory so one lost value is reported once.
  ghost.write(mm, va, value, pfn, ev.step);
}

/** Reports a write that reclaim discarded with a lazily freed page ({@link LayoutTracker}). */
export function reportDiscardedWrite(ctx: OracleContext, ev: Extract<TraceEvent, { type: 'pte' }>, w: DiscardedWrite): void {
  ctx.report(
    {
      rule: 'lost-write',
      explanation:
        `reclaim discarded pfn ${ptePfn(ev.old)} of ${hex(ev.va)} as a clean MADV_FREE page (MADV_FREE at step ${w.freedAt}), but ${hex(w.va)} ` +
        `was written (${w.value}) at step ${w.writtenAt}, after it, without dirtying the page: a CPU write dirties its entry, a device's does not. ` +
        'A driver whose device may write a page marks it dirty (set_page_dirty: kernel.pages.setPageDirty, or vm.dirtyWritable ' +
        'for a range) when it revokes the writable translation, as ib_umem_odp_unmap_dma_pages does; otherwise the kernel ' +
        'frees the data (mm/rmap.c, try_to_unmap_one)',
      mm: w.mm,
      va: w.va,
      pfn: ptePfn(ev.old),
    },
    ev,
  );
}
