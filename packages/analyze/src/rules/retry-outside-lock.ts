/**
 * `retry-outside-lock`: `mmuIntervalReadRetry` is checked without the lock the invalidate callback
 * holds around `mmuIntervalSetSeq` (bug class C1), or the lock is dropped after the check and the
 * device is programmed afterwards (bug class S17; invariant I3), or a path that read the sequence
 * with `mmuIntervalReadBegin` programs the device without checking it at all (a retry check on
 * some paths only: `if (write && mmuIntervalReadRetry(...))`), or checks a sequence read only
 * after `hmmRangeFault` had read the pages. Runs over every function of the
 * linted files and the driver's entry points.
 */
import type { Effect, Held } from '../internal/model/state.js';
import { at, blame, type RawFinding, type Rule } from './rule.js';

/** The `retry-outside-lock` rule (see the file comment). */
export const retryOutsideLock: Rule = {
  id: 'retry-outside-lock',
  severity: 'error',
  description:
    'mmuIntervalReadRetry is checked outside the lock, the device is programmed after that lock was released, a path programs it after hmmRangeFault without the check, or the sequence it checks was read after hmmRangeFault',
  check(a) {
    const out: RawFinding[] = [];
    const locks = [...a.seqLocks];
    const matters = (h: Held) => (locks.length > 0 ? a.seqLocks.has(h.name) : true);
    const want = locks.length > 0 ? locks.map((l) => `\`${l}\``).join(' or ') : 'the driver lock';
    for (const entry of a.entries) {
      for (const p of entry.paths) {
        let checked: { readonly held: readonly Held[]; readonly at: Effect; released: Held | undefined } | undefined;
        // The last mmuIntervalReadBegin of the path while no mmuIntervalReadRetry has followed it,
        // and whether hmmRangeFault read pages under it since.
        let unchecked: Effect | undefined;
        let faulted = false;
        // The last hmmRangeFault since the last retry check.
        let lastFault: Effect | undefined;
        for (const e of p.state.effects) {
          if (e.t === 'sleep' && e.what === 'mmuIntervalReadBegin()') {
            unchecked = e;
            faulted = false;
          }
          if (e.t === 'sleep' && e.what === 'hmmRangeFault()') {
            faulted = true;
            lastFault = e;
          }
          if (e.t === 'read-retry' && unchecked !== undefined && !faulted && lastFault !== undefined) {
            out.push({
              node: blame(a, e.node, e.stack),
              message:
                `mmuIntervalReadRetry checks the sequence mmuIntervalReadBegin read at ${at(unchecked.node)}, after hmmRangeFault at ` +
                `${at(lastFault.node)} had read the pages: an invalidation between the two is never seen. Read the sequence first, then fault`,
            });
          }
          if (e.t === 'read-retry') lastFault = undefined;
          if (e.t === 'program' && e.op === 'setPte' && unchecked !== undefined && faulted) {
            out.push({
              node: blame(a, e.node, e.stack),
              message:
                `the device is programmed (${e.op}) on a path that read the notifier sequence at ${at(unchecked.node)} and never ` +
                'checked mmuIntervalReadRetry: pages the CPU changed since are installed. Check it under the lock on every path before programming the device',
            });
            unchecked = undefined;
          }
          if (e.t === 'read-retry') {
            unchecked = undefined;
            const held = e.held.filter(matters);
            if (held.length === 0) {
              out.push({
                node: blame(a, e.node, e.stack),
                message:
                  `mmuIntervalReadRetry is checked without ${want} held: its answer is stale as soon as it is read. Take the lock ` +
                  'the invalidate callback holds around mmuIntervalSetSeq, check under it, and program the device before releasing it',
              });
              checked = undefined;
            } else checked = { held, at: e, released: undefined };
          } else if (e.t === 'release' && checked !== undefined && checked.released === undefined) {
            checked.released = checked.held.find((h) => h.key === e.lock || h.name === e.name);
          } else if (e.t === 'program' && checked?.released !== undefined) {
            const lock = checked.released;
            if (e.held.some((h) => h.name === lock.name)) continue;
            out.push({
              node: blame(a, e.node, e.stack),
              message:
                `the device is programmed (${e.op}) after \`${lock.key}\` was released following the mmuIntervalReadRetry check at ` +
                `${at(checked.at.node)}: an invalidation can run in between. Program the device while still holding the lock, right after the check`,
            });
          }
        }
      }
    }
    return out;
  },
};
