/**
 * `event-fallthrough`: the callback tests `range.event` and, for MMU_NOTIFY_PROTECTION_VMA,
 * PROTECTION_PAGE, SOFT_DIRTY or RELEASE, invalidates nothing on any path, though it does for other
 * events (bug class S13). A deliberate choice needs a comment: an event the callback names in
 * its test (`case MMU_NOTIFY_RELEASE:`, `range.event === MMU_NOTIFY_RELEASE`) needs any comment
 * at that test; one that only falls through (`default:`, `else`, `!==`) needs a comment that
 * names it (`SOFT_DIRTY`, …) and says why that is safe; the doc comment of the callback (or of
 * the ops object or method holding it) may say it too. Dropping RELEASE only is a warning (it is
 * harmless when a release notifier stops the device: N5).
 */
import { Node } from 'ts-morph';
import type { Effect } from '../internal/model/state.js';
import { EV, EVENT_NAMES, eventNames } from '../internal/model/values.js';
import { blame, commentsAround, did, type RawFinding, type Rule } from './rule.js';

const WATCHED = [EV.PROTECTION_VMA, EV.PROTECTION_PAGE, EV.SOFT_DIRTY, EV.RELEASE] as const;

/** The doc comments (TSDoc) of the declarations around `n`: the callback's, its ops object's, its method's. */
function docsOf(n: Node): string[] {
  return n.getAncestors().flatMap((a) => (Node.isJSDocable(a) ? a.getJsDocs().map((d) => d.getText()) : []));
}

function shortName(ev: number): string {
  return (EVENT_NAMES[Math.log2(ev)] as string).replace('MMU_NOTIFY_', '');
}

/** The `event-fallthrough` rule (see the file comment). */
export const eventFallthrough: Rule = {
  id: 'event-fallthrough',
  severity: 'error',
  description: 'a test of range.event does nothing for PROTECTION_VMA/PAGE, SOFT_DIRTY or RELEASE without a comment saying why',
  check(a) {
    const out: RawFinding[] = [];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
      if (!cb.paths.some((p) => did(p, 'flush'))) continue;
      const dropped = new Map<Node, { events: number; test: Extract<Effect, { t: 'event-test' }> }>();
      for (const ev of WATCHED) {
        const paths = cb.paths.filter((p) => p.outcome !== 'throw' && (p.state.events & ev) !== 0);
        if (paths.length === 0 || paths.some((p) => did(p, 'flush'))) continue;
        for (const p of paths) {
          const tests = p.state.effects.filter((e): e is Extract<Effect, { t: 'event-test' }> => e.t === 'event-test');
          const test = tests[tests.length - 1];
          if (test === undefined) continue;
          const named = test.positive && (test.set & ev) !== 0;
          const comments = commentsAround(test.node);
          const justified = named ? comments.length > 0 : comments.some((c) => c.includes(shortName(ev)));
          if (!justified && !docsOf(test.node).some((d) => d.includes(shortName(ev)))) {
            const d = dropped.get(test.node) ?? { events: 0, test };
            d.events |= ev;
            dropped.set(test.node, d);
          }
        }
      }
      for (const [node, d] of dropped) {
        const names = eventNames(d.events);
        out.push({
          node: blame(a, node, d.test.stack),
          severity: d.events === EV.RELEASE ? 'warning' : 'error',
          message:
            `${names.join(', ')} ${names.length > 1 ? 'fall' : 'falls'} through this test of range.event and nothing is invalidated for ` +
            `${names.length > 1 ? 'them' : 'it'}: the CPU takes write permission away (or tears the mm down), so revoke or write-protect ` +
            `and flush the device's translations too, or add a comment naming ${names.map((n) => n.replace('MMU_NOTIFY_', '')).join(', ')} ` +
            'that says why skipping is safe',
        });
      }
    }
    return out;
  },
};
