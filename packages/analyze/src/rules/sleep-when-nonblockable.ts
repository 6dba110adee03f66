/**
 * `sleep-when-nonblockable`: a callback path that can run with `mmuNotifierRangeBlockable(range)`
 * false (the OOM reaper's UNMAP) sleeps: a mutex `lock()`, `downRead`/`downWrite`, `waitEvent`,
 * `msleep`, a fence `wait()` (invariant I4; mmu_notifier.h: "return -EAGAIN instead of sleeping").
 */
import { NONBLOCKABLE_EVENTS } from '../internal/model/values.js';
import { blame, type RawFinding, type Rule } from './rule.js';

/** The `sleep-when-nonblockable` rule (see the file comment). */
export const sleepWhenNonblockable: Rule = {
  id: 'sleep-when-nonblockable',
  severity: 'error',
  description: 'a blocking primitive is awaited on a path reachable when mmuNotifierRangeBlockable(range) is false',
  check(a) {
    const out: RawFinding[] = [];
    for (const cb of a.callbacks) {
      if (cb.kind === 'release') continue;
      for (const p of cb.paths) {
        if (p.state.blockable === true || (p.state.events & NONBLOCKABLE_EVENTS) === 0) continue;
        for (const e of p.state.effects) {
          if (e.t !== 'sleep') continue;
          out.push({
            node: blame(a, e.node, e.stack),
            message:
              `\`${e.what}\` may sleep on a path that runs when mmuNotifierRangeBlockable(range) is false (the OOM reaper): ` +
              `test it first and take the lock with tryLock() there, returning ${cb.kind === 'interval' ? 'false' : '-EAGAIN'} if that fails`,
          });
        }
      }
    }
    return out;
  },
};
