/**
 * `unshared-driver-state`: a plain field of the driver (a number, flag, string, array, `Map` or
 * `Set`) is written by an invalidate callback and used by a driver entry point (a device fault, a
 * binding method, a work item), or the other way round, with no lock held in common. On a real
 * machine the two run at once, a data race the fuzzer cannot show: the model switches tasks only
 * where driver code awaits, and its race detector (`data-race`) sees only state declared with
 * `SharedCell` or `SharedMap`. The lockset test is in internal/lockset.ts.
 */
import type { Node } from 'ts-morph';
import { type Access, collectAccesses, lockSetRaces, locksText } from '../internal/lockset.js';
import type { Analysis } from '../internal/model/analyze.js';
import type { Effect } from '../internal/model/state.js';
import { at, blame, type RawFinding, type Rule } from './rule.js';

type FieldEffect = Extract<Effect, { t: 'field' }>;

const MMGET = /\.mmgetNotZero\(\)$/;
const placeOf = (e: FieldEffect): Node => e.node;

/** The `unshared-driver-state` rule (see the file comment). */
export const unsharedDriverState: Rule = {
  id: 'unshared-driver-state',
  severity: 'warning',
  description:
    'a plain driver field is written on one side of an invalidate callback and a driver entry point and used on the other, with no lock in common',
  check(a: Analysis) {
    const inCallbacks = new Map<string, Access<FieldEffect>[]>();
    const inEntries = new Map<string, Access<FieldEffect>[]>();
    for (const cb of a.callbacks)
      collectAccesses(cb.paths, inCallbacks, { where: cb.name, release: cb.kind === 'release', mmget: MMGET, placeOf });
    for (const en of a.entries) if (en.driverEntry) collectAccesses(en.paths, inEntries, { where: en.name, mmget: MMGET, placeOf });
    return lockSetRaces(inCallbacks, inEntries).map(
      ({ field, write: w, other: o }): RawFinding => ({
        node: blame(a, w.e.node, w.e.stack),
        message:
          `\`${field}\` is written in ${w.where} with ${locksText(w)} held and ${o.e.write ? 'written' : 'read'} in ${o.where} at ${at(o.e.node)} ` +
          `with ${locksText(o)}: nothing orders the two, and the fuzzer cannot see the race, as it tracks only SharedCell and SharedMap state. ` +
          'Take the lock the other side holds, or declare the field with SharedCell or SharedMap ({ atomic: true } for READ_ONCE/WRITE_ONCE) to have it race-checked',
      }),
    );
  },
};
