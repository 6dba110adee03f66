/**
 * `skip-any-owner`: an invalidate path skips the device's invalidation for MMU_NOTIFY_MIGRATE or
 * MMU_NOTIFY_EXCLUSIVE without having compared `range.owner` with the device's own owner. The
 * kernel sends MIGRATE with the `pgmap_owner` of whoever migrates (mm/migrate_device.c,
 * `migrate_vma_collect`) and EXCLUSIVE with the owner given to `make_device_exclusive_range`
 * (mm/rmap.c): another device's or another driver's migration takes the same path, and this
 * device keeps translations of pages that migration moves. Only the owner's identity makes the
 * skip legal (lib/test_hmm.c, `dmirror_interval_invalidate`; nouveau,
 * `nouveau_svmm_invalidate_range_start`): a test for NULL (`range.owner != null`, `if
 * (range.owner)`), of its class (`instanceof`), or none at all, lets every owner through.
 *
 * An interval path that skips before `mmuIntervalSetSeq` is `skip-before-set-seq`'s.
 */
import type { Node } from 'ts-morph';
import type { Analysis, PathResult } from '../internal/model/analyze.js';
import { EV } from '../internal/model/values.js';
import { blame, blameReturn, did, kernelConditions, type RawFinding, type Rule } from './rule.js';

const OWNED_EVENTS = EV.MIGRATE | EV.EXCLUSIVE;

/** The tests of the owner a path made, as written. */
function ownerTests(p: PathResult): string[] {
  const texts = new Set<string>();
  for (const e of p.state.effects) if (e.t === 'owner-test') texts.add(e.node.getText());
  for (const d of p.state.decisions) if (d.kind === 'state' && OWNER_TEXT.test(d.text)) texts.add(d.text);
  return [...texts];
}

const OWNER_TEXT = /\b(owner|data|migratePgmapOwner)\b/;

/** The decisions of a path other than its tests of the owner. */
function stateDecisions(p: PathResult): Map<string, boolean> {
  return new Map(p.state.decisions.filter((d) => d.kind !== 'owner' && !OWNER_TEXT.test(d.text)).map((d) => [d.text, d.value]));
}

/**
 * True if a path that invalidates made every test of the driver's state `p` made, with the same
 * outcome: `p` skips because of what the kernel said (the event, the owner), not because the
 * range was empty or the driver had nothing mapped.
 */
function skipsForTheEvent(p: PathResult, all: readonly PathResult[]): boolean {
  const mine = [...stateDecisions(p)];
  return all.some((q) => {
    if (q === p || !did(q, 'flush')) return false;
    const theirs = stateDecisions(q);
    return mine.every(([text, v]) => theirs.get(text) === v);
  });
}

/** Where the path's last test of the event or the owner is: what decided the skip. */
function decidedAt(a: Analysis, p: PathResult): Node | undefined {
  const tests = p.state.effects.filter((e) => e.t === 'event-test' || e.t === 'owner-test');
  const last = tests[tests.length - 1];
  return last === undefined ? undefined : blame(a, last.node, last.stack);
}

/** The `skip-any-owner` rule (see the file comment). */
export const skipAnyOwner: Rule = {
  id: 'skip-any-owner',
  severity: 'error',
  description: 'a path skips the invalidation for MMU_NOTIFY_MIGRATE or EXCLUSIVE without comparing range.owner with the device owner',
  check(a) {
    const out: RawFinding[] = [];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
      if (!cb.paths.some((p) => did(p, 'flush'))) continue;
      for (const p of cb.paths) {
        const s = p.state;
        if (p.outcome !== 'ok' || s.blockable === false || did(p, 'flush') || s.own === true) continue;
        if (s.events === 0 || (s.events & ~OWNED_EVENTS) !== 0) continue;
        if (cb.kind === 'interval' && !did(p, 'set-seq')) continue;
        if (!skipsForTheEvent(p, cb.paths)) continue;
        const tests = ownerTests(p);
        const tested =
          s.own === false
            ? ''
            : tests.length === 0
              ? ', and never tests range.owner'
              : `; its only test of the owner, ${tests.map((t) => `\`${t}\``).join(', ')}, holds for other owners too`;
        out.push({
          node: decidedAt(a, p) ?? blameReturn(a, cb, p),
          message:
            `returns ${cb.kind === 'interval' ? 'true' : '0'} without invalidating anything ${kernelConditions(s)}${tested}: another device's or driver's migration sends the same event with its own owner, ` +
            "and this device keeps its translations of the pages that migration moves. Skip only when range.owner is this device's " +
            'owner (the pgmap owner it passes to migrateVmaSetup or makeDeviceExclusive)',
        });
      }
    }
    return out;
  },
};
