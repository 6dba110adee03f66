/**
 * `/proc/pid/clear_refs` (fs/proc/task_mmu.c `clear_refs_write`). Writing 4 clears soft-dirty
 * bits: one `MMU_NOTIFY_SOFT_DIRTY` invalidation over the whole address space, during which every
 * present entry is write-protected and made soft-clean (`clear_soft_dirty`). 1–3 clear the
 * accessed bits (no invalidation); 5 resets the peak RSS (nothing to model).
 */
import { EINVAL } from '../errors.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_SOFT_DIRTY } from '../notifier/range.js';
import { ULONG_MAX, VM_SOFTDIRTY } from './constants.js';
import type { Mm } from './mm.js';
import { PTE_PRESENT, PTE_SOFT_DIRTY, PTE_SWAP, PTE_WRITE, PTE_YOUNG, pteClear, pteKindOf } from './pte.js';

/** Writes `value` to clear_refs: 0 or `-EINVAL`. */
export async function clearRefs(mm: Mm, value: number): Promise<number> {
  if (!Number.isInteger(value) || value < 1 || value > 5) return -EINVAL;
  const k = mm.kernel;
  if (value === 5) return 0;
  await mm.mmapLock.downWrite();
  try {
    if (value !== 4) {
      for (const [vpn, e] of mm.pt) if (pteKindOf(e) === PTE_PRESENT) mm.pt.set(vpn, pteClear(e, PTE_YOUNG));
      return 0;
    }
    for (const v of mm.vmas) v.flags &= ~VM_SOFTDIRTY;
    const range = mmuNotifierRangeInit(MMU_NOTIFY_SOFT_DIRTY, 0, mm, 0, ULONG_MAX);
    await mmuNotifierInvalidateRangeStart(range);
    await k.sched.yield();
    for (const vpn of mm.vpnsInRange(0, ULONG_MAX)) {
      const e = mm.pt.get(vpn) ?? 0;
      const kind = pteKindOf(e);
      let n = e;
      if (kind === PTE_PRESENT) n = pteClear(e, PTE_WRITE | PTE_SOFT_DIRTY);
      else if (kind === PTE_SWAP) n = pteClear(e, PTE_SOFT_DIRTY);
      if (n !== e) mm.setPte(vpn, n, range.id, 'clear-refs');
    }
    await mmuNotifierInvalidateRangeEnd(range);
    return 0;
  } finally {
    mm.mmapLock.upWrite();
  }
}
