/**
 * `lock-leak`: a path of a callback (or of a driver entry point: a binding method, the device
 * fault handler, a work item) returns holding a lock it took, or the page lock
 * `makeDeviceExclusive` hands over (bug classes E1, G2; invariant I4: "returning false leaves no
 * lock held").
 */
import type { Analysis, PathResult } from '../internal/model/analyze.js';
import type { Held } from '../internal/model/state.js';
import { at, blame, type RawFinding, type Rule } from './rule.js';

/** Where a leak shows: the first return, in a linted file, taken while the lock was held; else the last return. */
function leakSite(a: Analysis, p: PathResult, h: Held) {
  const returns = p.state.effects.filter((e) => e.t === 'return' && e.held.includes(h));
  const mine = returns.find((e) => a.files.has(e.node.getSourceFile().getFilePath()));
  const last = returns[returns.length - 1];
  if (mine !== undefined) return mine.node;
  if (last !== undefined) return blame(a, last.node, last.stack);
  return blame(a, h.node, h.stack);
}

/** The `lock-leak` rule (see the file comment). */
export const lockLeak: Rule = {
  id: 'lock-leak',
  severity: 'error',
  description: 'a path returns with a lock it took still held',
  check(a) {
    const out: RawFinding[] = [];
    const runs = [
      ...a.callbacks.map((c) => ({ name: c.name, paths: c.paths, returns: c.kind === 'interval' })),
      ...a.entries.filter((e) => e.driverEntry).map((e) => ({ name: e.name, paths: e.paths, returns: false })),
    ];
    for (const r of runs) {
      for (const p of r.paths) {
        if (p.outcome === 'throw') continue;
        for (const h of p.state.held) {
          const what =
            h.key === 'page lock'
              ? 'the page makeDeviceExclusive returned still locked: unlockPage() and putPage() it on every path'
              : `\`${h.key}\` (taken at ${at(h.node)}) still held: release it on every path before returning`;
          const ret = r.returns ? ` ${p.returned}` : '';
          out.push({ node: leakSite(a, p, h), message: `${r.name} returns${ret} with ${what}` });
        }
      }
    }
    return out;
  },
};
