/**
 * `true-when-nonblockable`: the non-blockable path (the callback tested
 * `mmuNotifierRangeBlockable(range)` and it was false) succeeds without invalidating anything and
 * without taking its lock or updating the sequence: the OOM reaper then frees pages the device
 * may still map (bug class S5). A path that took the lock and then found nothing to do is left to
 * the other rules (a state test under the lock, as mlx5's `!npages` or a torn-down `!live`, is
 * legal: N3).
 */
import { blameReturn, did, type RawFinding, type Rule } from './rule.js';

/** The `true-when-nonblockable` rule (see the file comment). */
export const trueWhenNonblockable: Rule = {
  id: 'true-when-nonblockable',
  severity: 'error',
  description: 'the non-blockable path returns success without having invalidated anything',
  check(a) {
    const out: RawFinding[] = [];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
      for (const p of cb.paths) {
        if (p.outcome !== 'ok' || p.state.blockable !== false || did(p, 'flush') || did(p, 'set-seq') || did(p, 'acquire')) continue;
        const ok = cb.kind === 'interval' ? 'true' : '0';
        const fail = cb.kind === 'interval' ? 'false' : '-EAGAIN';
        out.push({
          node: blameReturn(a, cb, p),
          message:
            `returns ${ok} for a non-blockable range (the OOM reaper) without invalidating anything: the reaper then frees pages ` +
            `the device may still map. Invalidate without sleeping (tryLock, clear and flush) or return ${fail}`,
        });
      }
    }
    return out;
  },
};
