/**
 * Address-space teardown: `exit_mmap` (mm/mmap.c) and the OOM reaper's `__oom_reap_task_mm`
 * (mm/oom_kill.c), the one caller of non-blockable invalidations.
 */
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeStartNonblock,
  mmuNotifierRangeInit,
  mmuNotifierRelease,
} from '../notifier/mmu-notifier.js';
import { MMU_NOTIFY_UNMAP } from '../notifier/range.js';
import { ULONG_MAX } from './constants.js';
import { hugetlbUnreserveRange } from './hugetlb.js';
import type { Mm } from './mm.js';
import type { Page } from './page.js';
import { putPages, zapPtes } from './zap.js';

/**
 * `exit_mmap`: `mmu_notifier_release` (a RELEASE invalidation of interval notifiers, `release` of
 * classic ones), then `unmap_vmas` under one UNMAP invalidation of the whole address space, which
 * interval notifiers (still in the tree) receive too; then the pages are freed.
 */
export async function exitMmap(mm: Mm): Promise<void> {
  const k = mm.kernel;
  if (k.trace.on) k.trace.emit({ type: 'vma', mm: mm.id, op: 'exit', start: 0, end: ULONG_MAX, detail: `${mm.vmas.length} vma(s)` });
  await mmuNotifierRelease(mm);
  await mm.mmapLock.downWrite();
  try {
    const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, 0, ULONG_MAX);
    await mmuNotifierInvalidateRangeStart(range);
    await k.sched.yield();
    const toPut: Page[] = [];
    hugetlbUnreserveRange(mm, 0, ULONG_MAX);
    zapPtes(mm, 0, ULONG_MAX, range.id, toPut, 'exit');
    await mmuNotifierInvalidateRangeEnd(range);
    putPages(mm, toPut);
    mm.vmas.length = 0;
    mm.dead = true;
  } finally {
    mm.mmapLock.upWrite();
  }
}

/**
 * `__oom_reap_task_mm`: with the mmap lock taken by trylock, each private VMA is zapped under a
 * non-blockable UNMAP invalidation; a VMA whose notifiers answer `-EAGAIN` is skipped. Returns
 * true if every VMA was reaped (false: the reaper would retry later).
 */
export async function oomReap(mm: Mm): Promise<boolean> {
  const k = mm.kernel;
  if (!mm.mmapLock.downReadTrylock()) return false;
  // set_bit(MMF_UNSTABLE): from now on page faults of this mm fail.
  mm.unstable = true;
  let done = true;
  try {
    for (const v of mm.vmas.slice()) {
      if (!v.anonymous && v.shared) continue;
      if (v.hugetlb) continue; // __oom_reap_task_mm skips VM_HUGETLB
      if (mm.vpnsInRange(v.start, v.end).length === 0) continue;
      // __oom_reap_task_mm: MMU_NOTIFY_UNMAP, as mainline has sent since v5.2.
      const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, v.start, v.end);
      const ret = await mmuNotifierInvalidateRangeStartNonblock(range);
      if (ret !== 0) {
        done = false;
        continue;
      }
      const toPut: Page[] = [];
      zapPtes(mm, v.start, v.end, range.id, toPut, 'oom-reap');
      await mmuNotifierInvalidateRangeEnd(range);
      putPages(mm, toPut);
    }
  } finally {
    mm.mmapLock.upRead();
  }
  if (k.trace.on)
    k.trace.emit({
      type: 'vma',
      mm: mm.id,
      op: 'oom-reap',
      start: 0,
      end: ULONG_MAX,
      detail: done ? 'reaped' : 'retry: a notifier returned -EAGAIN',
    });
  return done;
}
