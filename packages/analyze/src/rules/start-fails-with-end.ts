/**
 * `start-fails-with-end`: a classic `invalidateRangeStart` that can fail (a path returns a negative
 * errno, `-EAGAIN` for a non-blockable range) in a subscription that also implements
 * `invalidateRangeEnd`. The kernel WARNs (mm/mmu_notifier.c, `mn_hlist_invalidate_range_start`:
 * "a start that does EAGAIN can't also do end") and then calls every subscription's
 * `invalidate_range_end`, the failed one's too: its end runs for a start that did nothing (a
 * KVM-style in-progress count goes below zero, a sequence moves for nothing). Bug class E2.
 */
import { blameReturn, type RawFinding, type Rule } from './rule.js';

/** The `start-fails-with-end` rule (see the file comment). */
export const startFailsWithEnd: Rule = {
  id: 'start-fails-with-end',
  severity: 'error',
  description: 'a classic invalidate_range_start that can fail in a subscription that also implements invalidate_range_end',
  check(a) {
    const out: RawFinding[] = [];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'start') continue;
      const end = a.callbacks.find((e) => e.kind === 'end' && e.site === cb.site);
      if (end === undefined) continue;
      for (const p of cb.paths) {
        if (p.outcome !== 'fail') continue;
        const ret = p.returned === '-11' ? '-EAGAIN' : p.returned;
        out.push({
          node: blameReturn(a, cb, p),
          message:
            `returns ${ret} while the same subscription implements invalidateRangeEnd (${end.name}): the kernel WARNs ` +
            `(mm/mmu_notifier.c, mn_hlist_invalidate_range_start: "a start that does EAGAIN can't also do end") and then calls ` +
            'invalidateRangeEnd for this start too, which did nothing. Make the start unable to fail (a spinlock, or a ' +
            'trylock it retries), or do without invalidateRangeEnd',
        });
      }
    }
    return out;
  },
};
