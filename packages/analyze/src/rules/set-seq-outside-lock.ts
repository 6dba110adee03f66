/**
 * `set-seq-outside-lock`: `mmuIntervalSetSeq` is called without the lock the driver holds where
 * it checks `mmuIntervalReadRetry` (invariant I2; include/linux/mmu_notifier.h: "under the same
 * lock that is used to call mmu_interval_read_retry()"). When the driver has no such check in
 * the analysed code, any lock will do, but one must be held.
 */
import { blame, type RawFinding, type Rule } from './rule.js';

/** The `set-seq-outside-lock` rule (see the file comment). */
export const setSeqOutsideLock: Rule = {
  id: 'set-seq-outside-lock',
  severity: 'error',
  description: 'mmuIntervalSetSeq is not called under the lock the driver holds around mmuIntervalReadRetry',
  check(a) {
    const out: RawFinding[] = [];
    const locks = [...a.retryLocks];
    for (const cb of a.callbacks) {
      for (const p of cb.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'set-seq') continue;
          const ok = locks.length > 0 ? e.held.some((h) => a.retryLocks.has(h.name)) : e.held.length > 0;
          if (ok) continue;
          const want = locks.length > 0 ? locks.map((l) => `\`${l}\``).join(' or ') : 'the driver lock';
          const have = e.held.length > 0 ? ` (it holds ${e.held.map((h) => `\`${h.key}\``).join(', ')})` : ' (it holds no lock)';
          out.push({
            node: blame(a, e.node, e.stack),
            message:
              `mmuIntervalSetSeq is called without ${want} held${have}: take the lock the fault path holds around ` +
              'mmuIntervalReadRetry before calling it, so no fault can check the sequence between the update and the zap',
          });
        }
      }
    }
    return out;
  },
};
