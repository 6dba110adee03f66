/**
 * `skip-before-set-seq`: an interval `invalidate` path returns true without calling
 * `mmuIntervalSetSeq`, so a fault that read its pfns before the invalidation passes
 * `mmuIntervalReadRetry` (bug classes S3, D1). Not reported: the driver's own
 * MMU_NOTIFY_EXCLUSIVE (nouveau's skip, N2: the initiator checks the sequence itself),
 * MMU_NOTIFY_RELEASE (the mm is gone), and non-blockable paths (true-when-nonblockable's).
 * The driver's own MMU_NOTIFY_MIGRATE is a warning: test_hmm does it, and it is safe only if the
 * fault path can tell its own migrations some other way (examples/dmirror-fixed, fix 2; N8).
 */
import { EV } from '../internal/model/values.js';
import { at, blame, blameReturn, did, pathConditions, type RawFinding, type Rule } from './rule.js';

/** The `skip-before-set-seq` rule (see the file comment). */
export const skipBeforeSetSeq: Rule = {
  id: 'skip-before-set-seq',
  severity: 'error',
  description: 'an interval invalidate path returns true before mmuIntervalSetSeq without being a legal self-skip',
  check(a) {
    const out: RawFinding[] = [];
    // Where a fault path checks the sequence: a callback that never moves it defeats every check.
    const retry = a.entries.flatMap((e) => e.paths.flatMap((p) => p.state.effects.filter((x) => x.t === 'read-retry')))[0];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'interval') continue;
      if (!cb.paths.some((p) => did(p, 'set-seq'))) {
        if (retry !== undefined && cb.paths.some((p) => p.outcome === 'ok' && (p.state.events & ~EV.RELEASE) !== 0)) {
          out.push({
            node: cb.fn.node,
            message:
              `never calls mmuIntervalSetSeq, on any path, while the driver checks mmuIntervalReadRetry (${at(blame(a, retry.node, retry.stack))}): ` +
              'the check never sees an invalidation, and a fault that read its pfns before one maps pages the CPU no longer maps. ' +
              'Take the lock and call mmuIntervalSetSeq(mni, curSeq) before returning true',
          });
        }
        continue;
      }
      for (const p of cb.paths) {
        const s = p.state;
        if (p.outcome !== 'ok' || did(p, 'set-seq') || s.blockable === false) continue;
        if ((s.events & ~EV.RELEASE) === 0) continue;
        if (s.own === true && (s.events & ~EV.EXCLUSIVE) === 0) continue;
        const own = s.own === true && (s.events & ~(EV.MIGRATE | EV.EXCLUSIVE)) === 0;
        out.push(
          own
            ? {
                node: blameReturn(a, cb, p),
                severity: 'warning',
                message:
                  `returns true for its own MMU_NOTIFY_MIGRATE without mmuIntervalSetSeq (${pathConditions(s)}): a fault that read ` +
                  'its pfns just before the migration still passes mmuIntervalReadRetry. Call mmuIntervalSetSeq under the lock and ' +
                  'skip only the zap, unless the fault path detects its own migrations another way',
              }
            : {
                node: blameReturn(a, cb, p),
                message:
                  `returns true without mmuIntervalSetSeq ${pathConditions(s)}: a fault that read its pfns before this invalidation ` +
                  'passes mmuIntervalReadRetry and maps a page the CPU no longer maps. Take the lock and call ' +
                  'mmuIntervalSetSeq(mni, curSeq) before this return (only its own MMU_NOTIFY_EXCLUSIVE may skip it)',
              },
        );
      }
    }
    return out;
  },
};
