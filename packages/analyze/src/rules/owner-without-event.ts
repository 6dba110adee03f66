/**
 * `owner-without-event`: the callback decides on `range.owner` (or the older `data` /
 * `migratePgmapOwner`) on a path where the event may be other than MMU_NOTIFY_MIGRATE or
 * MMU_NOTIFY_EXCLUSIVE (bug classes A2, S1; Jason Gunthorpe on the seed patch v4: "nobody should
 * read migrate_pgmap_owner unless MMU_NOTIFY_MIGRATE is set as the event").
 */
import { EV, eventSetText } from '../internal/model/values.js';
import { blame, type RawFinding, type Rule } from './rule.js';

const OWNED_EVENTS = EV.MIGRATE | EV.EXCLUSIVE;

/** The `owner-without-event` rule (see the file comment). */
export const ownerWithoutEvent: Rule = {
  id: 'owner-without-event',
  severity: 'error',
  description: 'range.owner decides a path on which the event may be other than MMU_NOTIFY_MIGRATE or MMU_NOTIFY_EXCLUSIVE',
  check(a) {
    const out: RawFinding[] = [];
    for (const cb of a.callbacks) {
      for (const p of cb.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'owner-test' || (e.events & ~OWNED_EVENTS) === 0) continue;
          out.push({
            node: blame(a, e.node, e.stack),
            message:
              `\`${e.node.getText()}\` tests the owner while range.event may be ${eventSetText(e.events)}; ` +
              'the owner is meaningful only for MMU_NOTIFY_MIGRATE and MMU_NOTIFY_EXCLUSIVE: test the event first ' +
              '(`range.event === MMU_NOTIFY_MIGRATE && range.owner === owner`)',
          });
        }
      }
    }
    return out;
  },
};
