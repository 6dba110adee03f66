/**
 * Rules read straight from the kernel facts the core reports: `sleep-in-nonblockable`,
 * `false-while-blockable`, `start-failed-with-end`, `lock-leak`, and `livelock` for retry loops
 * that ran over their bound, and `freed-page-mapped` for a page reference taken on a free page.
 */
import type { TraceEvent } from '@hmmlab/core';
import type { OracleContext } from '../context.js';

const LIVELOCK_WARNS = new Set(['retry-timeout', 'device-fault-livelock']);

/** Maps one kernel fact to a violation. */
export function checkKernelFact(ctx: OracleContext, ev: TraceEvent): void {
  switch (ev.type) {
    case 'sleep-in-atomic':
      ctx.report(
        {
          rule: 'sleep-in-nonblockable',
          explanation: ev.context.endsWith('arch_invalidate_secondary_tlbs')
            ? `${ev.context} may sleep (${ev.what}), but it runs under the page-table lock (mm/mmu_notifier.c, __mmu_notifier_arch_invalidate_secondary_tlbs): it must not sleep at all`
            : `${ev.context} called ${ev.what}, which may sleep, in a non-blockable invalidation (the OOM reaper path): use a trylock and return false`,
          context: ev.context,
        },
        ev,
      );
      return;
    case 'lock-leak':
      ctx.report(
        {
          rule: 'lock-leak',
          explanation: `${ev.context} returned still holding ${ev.locks.join(', ')}: any later taker blocks until it is released`,
          context: ev.context,
          dedupKey: `lock-leak:${ev.context}`,
        },
        ev,
      );
      return;
    case 'warn':
      if (ev.what === 'false-while-blockable') {
        ctx.report(
          {
            rule: 'false-while-blockable',
            explanation: `${ev.detail}: the kernel WARNs and goes on with the invalidation (mm/mmu_notifier.c, mn_itree_invalidate), whatever the callback left in place`,
          },
          ev,
        );
      } else if (ev.what === 'start-failed-with-end') {
        ctx.report(
          {
            rule: 'start-failed-with-end',
            explanation: `${ev.detail}: after a failed start the kernel calls invalidate_range_end of every notifier that has one, this one included (mm/mmu_notifier.c, mn_hlist_invalidate_range_start), so its end runs after a start that did not complete`,
          },
          ev,
        );
      } else if (ev.what === 'get-free-page') {
        ctx.report(
          {
            rule: 'freed-page-mapped',
            explanation: `${ev.detail}: the reference keeps nothing alive, so the page may be reused while the driver uses it (a pfn kept across the free: pfns from hmm_range_fault stay valid only until mmu_interval_read_retry says to retry)`,
            dedupKey: `get-free-page:${ev.seq}`,
          },
          ev,
        );
      } else if (LIVELOCK_WARNS.has(ev.what)) {
        ctx.report({ rule: 'livelock', explanation: ev.detail }, ev);
      }
      return;
    default:
      return;
  }
}
