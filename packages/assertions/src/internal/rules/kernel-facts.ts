/**
 * Rules read straight from the kernel facts the core reports: `sleep-in-nonblockable`,
 * `false-while-blockable`, `start-failed-with-end`, `lock-leak`, `livelock` for retry loops that
 * ran over their bound, `freed-page-mapped` for a page reference taken on a free page, and
 * `kernel-warn` for every other WARN and bad page state: none is dropped.
 */
import type { TraceEvent } from '@hmmlab/core';
import type { OracleContext } from '../context.js';

const LIVELOCK_WARNS = new Set(['retry-timeout', 'device-fault-livelock']);

/** The warnings mapped to a rule of their own in {@link checkKernelFact}. */
export const RULED_WARNS: ReadonlySet<string> = new Set([
  ...LIVELOCK_WARNS,
  'false-while-blockable',
  'start-failed-with-end',
  'start-failed-blockable',
  'get-free-page',
]);

/**
 * Why the kernel WARNs, by the model's name of the warning, with the kernel function that does.
 * Every warning the model emits is either here or mapped to a rule of its own above
 * (kernel-facts.test.ts reads the model's sources for their names).
 */
export const KERNEL_WARNS: Readonly<Record<string, string>> = {
  'start-failed-errno':
    'in a non-blockable range a start may fail only with -EAGAIN; the kernel WARNs (mm/mmu_notifier.c, mn_hlist_invalidate_range_start)',
  'insert-dead-mm':
    'the kernel WARNs and returns -EINVAL (mm/mmu_notifier.c, __mmu_interval_notifier_insert: "Must call with a mmget() held"): insert notifiers only while holding a user reference to the mm (mmget_not_zero), never once its last user is gone',
  'register-both':
    'the kernel WARNs and returns -EINVAL (mm/mmu_notifier.c, __mmu_notifier_register, from v6.6): a subscription implements arch_invalidate_secondary_tlbs or invalidate_range_start/end, not both',
  'dma-unmap-unmapped':
    'the DMA API WARNs, "device driver tries to free DMA memory it has not allocated" (kernel/dma/debug.c, check_unmap), and without its debug checks the IOMMU unmaps whatever the address now stands for: unmap only what the device mapped, after the mapping is made (a mapping made after the lock was dropped can come after the callback that unmaps it)',
  'bad-page':
    'the kernel reports a bad page state, "nonzero mapcount" (mm/page_alloc.c, free_page_is_bad, bad_page): the last reference went while a CPU entry still maps the page, a put_page without its get_page',
};

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
            explanation: ev.detail.startsWith('get_page')
              ? `${ev.detail}: the reference keeps nothing alive, so the page may be reused while the driver uses it (a pfn kept across the free: pfns from hmm_range_fault stay valid only until mmu_interval_read_retry says to retry)`
              : `${ev.detail}: the CPU now maps a free, soon reused page. A destination page handed to migrate_vma_pages belongs to the migration until migrate_vma_finalize, which frees those that did not migrate: the driver must not free or put it before then`,
            dedupKey: `get-free-page:${ev.seq}`,
          },
          ev,
        );
      } else if (ev.what === 'start-failed-blockable') {
        ctx.report(
          {
            rule: 'false-while-blockable',
            explanation: `${ev.detail}: a start may fail only in a non-blockable range; the kernel WARNs and goes on with the invalidation (mm/mmu_notifier.c, mn_hlist_invalidate_range_start), whatever the callback left in place`,
          },
          ev,
        );
      } else if (LIVELOCK_WARNS.has(ev.what)) {
        ctx.report({ rule: 'livelock', explanation: ev.detail }, ev);
      } else if (Object.hasOwn(KERNEL_WARNS, ev.what)) {
        const why = KERNEL_WARNS[ev.what] as string;
        ctx.report({ rule: 'kernel-warn', explanation: `${ev.detail}: ${why}`, dedupKey: `kernel-warn:${ev.what}:${ev.detail}` }, ev);
      }
      // Any other name is a driver's own WARN_ON (`kernel.warn` called by the driver): its
      // assertion, shown in the trace, not a misuse of the kernel.
      return;
    default:
      return;
  }
}
