/**
 * The lint rules over C paths: the same ids, severities and contract as the TypeScript rules
 * (packages/analyze/src/rules), said in the kernel's names (`mmu_interval_set_seq`,
 * `mmu_interval_read_retry`, `range->event`). Device operations are driver calls the files do
 * not define; which of them revoke a PTE, flush a TLB or unmap DMA is read from their names
 * (`classify` in interp.ts).
 */

import { dirname } from 'node:path';
import { type Access, collectAccesses, lockSetRaces, locksText } from '../internal/lockset.js';
import { ALL_EVENTS, EV, EVENT_NAMES, eventNames, eventSetText, NONBLOCKABLE_EVENTS } from '../internal/model/values.js';
import type { Severity } from '../rules/rule.js';
import type { CAnalysis, CCallbackKind, CRun } from './analyze.js';
import { type CEffect, type CPath, type CState, type Held, lastName, type Site, XA_ERASE } from './interp.js';

/** A finding before it is made relative to the working folder. */
export interface CRawFinding {
  readonly rule: string;
  readonly severity: Severity;
  readonly at: Site;
  readonly message: string;
}

interface CRule {
  readonly id: string;
  readonly severity: Severity;
  check(a: CAnalysis): { at: Site; message: string; severity?: Severity }[];
}

type Eff<T extends CEffect['t']> = Extract<CEffect, { t: T }>;

function did(p: CPath, t: CEffect['t'], pred: (e: CEffect) => boolean = () => true): boolean {
  return p.state.effects.some((e) => e.t === t && pred(e));
}

/** A device operation that changes what the device maps (a leaf call, not an inlined helper). */
function deviceOps(p: CPath): Eff<'op'>[] {
  return p.state.effects.filter((e): e is Eff<'op'> => e.t === 'op' && !e.defined);
}

/** Any driver call (the callback's own work): what "invalidated something" means in C. */
function didWork(p: CPath): boolean {
  // A call whose value is an operand (`struct drm_i915_private *i915 = to_i915(dev)`) is an accessor.
  return p.state.effects.some((e) => e.t === 'op' && !e.operand);
}

/** The conditions of a path, as a reader would say them. */
function pathConditions(s: CState, withState = true): string {
  const parts: string[] = [];
  if (s.events !== ALL_EVENTS) parts.push(`range->event is ${eventSetText(s.events)}`);
  if (s.own !== undefined) parts.push(s.own ? 'the owner is its own' : 'the owner is not its own');
  if (s.blockable !== undefined) parts.push(s.blockable ? 'blockable' : 'not blockable');
  if (withState) for (const d of s.decisions) if (!d.text.startsWith('mmu_notifier_range_blockable')) parts.push(`${d.text} is ${d.value}`);
  return parts.length === 0 ? 'on every path' : `when ${parts.join(', ')}`;
}

function where(s: Site): string {
  return `${s.file.split('/').pop()}:${s.line}`;
}

/** The site a path returned from, at the callback's own level when it can. */
function returnSite(r: CRun, p: CPath): Site {
  const rets = p.state.effects.filter((e): e is Eff<'return'> => e.t === 'return' && e.depth === 0);
  return rets[rets.length - 1]?.at ?? p.at ?? { file: r.fn.file, line: r.line, text: r.name };
}

/** The lock names of the driver (folder) that `file` belongs to. */
function driverLocks(m: ReadonlyMap<string, ReadonlySet<string>>, file: string): ReadonlySet<string> {
  return m.get(dirname(file)) ?? new Set();
}

const OWNED_EVENTS = EV.MIGRATE | EV.EXCLUSIVE;

const ownerWithoutEvent: CRule = {
  id: 'owner-without-event',
  severity: 'error',
  check(a) {
    return a.callbacks.flatMap((cb) =>
      cb.paths.flatMap((p) =>
        p.state.effects
          .filter((e): e is Eff<'owner-test'> => e.t === 'owner-test' && (e.events & ~OWNED_EVENTS) !== 0)
          .map((e) => ({
            at: e.at,
            message:
              `\`${e.at.text}\` tests the owner while range->event may be ${eventSetText(e.events)}; the owner is meaningful only ` +
              'for MMU_NOTIFY_MIGRATE and MMU_NOTIFY_EXCLUSIVE: test the event first (`range->event == MMU_NOTIFY_MIGRATE && range->owner == owner`)',
          })),
      ),
    );
  },
};

const skipBeforeSetSeq: CRule = {
  id: 'skip-before-set-seq',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'interval') continue;
      if (!cb.paths.some((p) => did(p, 'set-seq'))) {
        // A fault path of the same driver checks the sequence: a callback that never moves it defeats every check.
        const retry = a.entries
          .filter((e) => dirname(e.fn.file) === dirname(cb.fn.file))
          .flatMap((e) => e.paths.flatMap((p) => p.state.effects.filter((x): x is Eff<'read-retry'> => x.t === 'read-retry')))[0];
        if (retry !== undefined && cb.paths.some((p) => p.outcome === 'ok' && (p.state.events & ~EV.RELEASE) !== 0)) {
          out.push({
            at: { file: cb.fn.file, line: cb.line, text: cb.name },
            message:
              `${cb.name} never calls mmu_interval_set_seq, on any path, while the driver checks mmu_interval_read_retry (${where(retry.at)}): ` +
              'the check never sees an invalidation, and a fault that read its pfns before one maps pages the CPU no longer maps. ' +
              'Take the lock and call mmu_interval_set_seq(mni, cur_seq) before returning true',
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
                at: returnSite(cb, p),
                severity: 'warning',
                message:
                  `returns true for its own MMU_NOTIFY_MIGRATE without mmu_interval_set_seq (${pathConditions(s)}): a fault that read ` +
                  'its pfns just before the migration still passes mmu_interval_read_retry. Call mmu_interval_set_seq under the lock ' +
                  'and skip only the zap, unless the fault path detects its own migrations another way',
              }
            : {
                at: returnSite(cb, p),
                message:
                  `returns true without mmu_interval_set_seq ${pathConditions(s)}: a fault that read its pfns before this invalidation ` +
                  'passes mmu_interval_read_retry and maps a page the CPU no longer maps. Take the lock and call ' +
                  'mmu_interval_set_seq(mni, cur_seq) before this return (only its own MMU_NOTIFY_EXCLUSIVE may skip it)',
              },
        );
      }
    }
    return out;
  },
};

/** The decisions of a path other than its tests of the owner. */
function stateDecisions(p: CPath): Map<string, boolean> {
  return new Map(p.state.decisions.filter((d) => !/\b(owner|migrate_pgmap_owner)\b/.test(d.text)).map((d) => [d.text, d.value]));
}

const skipAnyOwner: CRule = {
  id: 'skip-any-owner',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
      if (!cb.paths.some((p) => didWork(p))) continue;
      for (const p of cb.paths) {
        const s = p.state;
        if (p.outcome !== 'ok' || s.cut === true || s.blockable === false || didWork(p) || s.own === true) continue;
        if (s.events === 0 || (s.events & ~OWNED_EVENTS) !== 0) continue;
        if (cb.kind === 'interval' && !did(p, 'set-seq')) continue;
        // The skip is the event's and the owner's doing: a path that invalidates made the same
        // tests of the driver's state with the same outcomes (not an empty range, nothing mapped).
        const mine = [...stateDecisions(p)];
        const twin = cb.paths.some((q) => {
          if (q === p || !didWork(q)) return false;
          const theirs = stateDecisions(q);
          return mine.every(([text, v]) => theirs.get(text) === v);
        });
        if (!twin) continue;
        const tests = s.effects.filter((e): e is Eff<'owner-test'> => e.t === 'owner-test').map((e) => `\`${e.at.text}\``);
        const decided = s.effects.filter((e) => e.t === 'event-test' || e.t === 'owner-test');
        const tested =
          s.own === false
            ? ''
            : tests.length === 0
              ? ', and never tests range->owner'
              : `; its only test of the owner, ${[...new Set(tests)].join(', ')}, holds for other owners too`;
        out.push({
          at: decided[decided.length - 1]?.at ?? returnSite(cb, p),
          message:
            `returns ${cb.kind === 'interval' ? 'true' : '0'} without invalidating anything ${pathConditions(s, false)}${tested}: another ` +
            "device's or driver's migration sends the same event with its own owner (migrate_vma_collect passes its pgmap_owner), and " +
            "this device keeps its translations of the pages that migration moves. Skip only when range->owner is this device's owner",
        });
      }
    }
    return out;
  },
};

const setSeqOutsideLock: CRule = {
  id: 'set-seq-outside-lock',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const cb of a.callbacks) {
      const retryLocks = driverLocks(a.retryLocks, cb.fn.file);
      const locks = [...retryLocks];
      for (const p of cb.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'set-seq') continue;
          const ok = locks.length > 0 ? e.held.some((h) => retryLocks.has(h.name)) : e.held.length > 0;
          if (ok) continue;
          const want = locks.length > 0 ? locks.map((l) => `\`${l}\``).join(' or ') : 'the driver lock';
          const have = e.held.length > 0 ? ` (it holds ${e.held.map((h) => `\`${h.key}\``).join(', ')})` : ' (it holds no lock)';
          out.push({
            at: e.at,
            message:
              `mmu_interval_set_seq is called without ${want} held${have}: take the lock the fault path holds around ` +
              'mmu_interval_read_retry before calling it, so no fault can check the sequence between the update and the zap',
          });
        }
      }
    }
    return out;
  },
};

const retryOutsideLock: CRule = {
  id: 'retry-outside-lock',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const entry of a.entries) {
      const seqLocks = driverLocks(a.seqLocks, entry.fn.file);
      const locks = [...seqLocks];
      const matters = (h: Held) => (locks.length > 0 ? seqLocks.has(h.name) : true);
      const want = locks.length > 0 ? locks.map((l) => `\`${l}\``).join(' or ') : 'the driver lock';
      // A function other files call may run with the lock its callers took: say so, as a warning.
      const outside = entry.external && !entry.paths.some((p) => did(p, 'acquire'));
      for (const p of entry.paths) {
        let checked: { held: Held[]; at: Site; released: Held | undefined } | undefined;
        // The last mmu_interval_read_begin while no mmu_interval_read_retry has followed it, and
        // whether hmm_range_fault read pages under it since.
        let unchecked: Site | undefined;
        let faulted = false;
        // The last hmm_range_fault since the last retry check.
        let lastFault: Site | undefined;
        for (const e of p.state.effects) {
          if (e.t === 'sleep' && e.what === 'mmu_interval_read_begin()') {
            unchecked = e.at;
            faulted = false;
          }
          if (e.t === 'op' && e.name === 'hmm_range_fault') {
            faulted = true;
            lastFault = e.at;
          }
          if (e.t === 'read-retry' && unchecked !== undefined && !faulted && lastFault !== undefined) {
            out.push({
              at: e.at,
              message:
                `mmu_interval_read_retry checks the sequence mmu_interval_read_begin read at ${where(unchecked)}, after hmm_range_fault at ` +
                `${where(lastFault)} had read the pages: an invalidation between the two is never seen. Read the sequence first, then fault`,
            });
          }
          if (e.t === 'read-retry') lastFault = undefined;
          if (e.t === 'op' && e.cls === 'program' && !e.defined && unchecked !== undefined && faulted) {
            out.push({
              at: e.at,
              message:
                `the device is programmed (${e.name}) on a path that read the notifier sequence at ${where(unchecked)} and never ` +
                'checked mmu_interval_read_retry: pages the CPU changed since are installed. Check it under the lock on every path before programming the device',
            });
            unchecked = undefined;
          }
          if (e.t === 'read-retry') {
            unchecked = undefined;
            const held = e.held.filter(matters);
            if (held.length === 0) {
              out.push({
                at: e.at,
                ...(outside ? { severity: 'warning' as const } : {}),
                message:
                  `mmu_interval_read_retry is checked without ${want} held: its answer is stale as soon as it is read. Take the lock ` +
                  'the invalidate callback holds around mmu_interval_set_seq, check under it, and program the device before releasing it' +
                  (outside
                    ? ` (${entry.name} takes no lock and has external linkage: if its callers in other files hold the lock, this is safe)`
                    : ''),
              });
              checked = undefined;
            } else checked = { held, at: e.at, released: undefined };
          } else if (e.t === 'release' && checked !== undefined && checked.released === undefined) {
            checked.released = checked.held.find((h) => h.key === e.key || h.name === e.name);
          } else if (e.t === 'op' && (e.cls === 'program' || e.cls === 'dma-map') && !e.defined && checked?.released !== undefined) {
            const lock = checked.released;
            if (e.held.some((h) => h.name === lock.name)) continue;
            out.push({
              at: e.at,
              message:
                `the device is programmed (${e.name}) after \`${lock.key}\` was released following the mmu_interval_read_retry check at ` +
                `${where(checked.at)}: an invalidation can run in between. Program the device while still holding the lock, right after the check`,
            });
          }
        }
      }
    }
    return out;
  },
};

const sleepWhenNonblockable: CRule = {
  id: 'sleep-when-nonblockable',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const cb of a.callbacks) {
      if (cb.kind === 'release') continue;
      for (const p of cb.paths) {
        if (p.state.blockable === true || (p.state.events & NONBLOCKABLE_EVENTS) === 0) continue;
        for (const e of p.state.effects) {
          if (e.t !== 'sleep') continue;
          out.push({
            at: e.at,
            message:
              `\`${e.what}\` may sleep on a path that runs when mmu_notifier_range_blockable(range) is false (the OOM reaper): ` +
              `test it first and take the lock with a trylock there, returning ${cb.kind === 'interval' ? 'false' : '-EAGAIN'} if that fails`,
          });
        }
      }
    }
    return out;
  },
};

const trueWhenNonblockable: CRule = {
  id: 'true-when-nonblockable',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
      for (const p of cb.paths) {
        if (p.outcome !== 'ok' || p.state.blockable !== false || didWork(p) || did(p, 'set-seq') || did(p, 'acquire')) continue;
        const ok = cb.kind === 'interval' ? 'true' : '0';
        const fail = cb.kind === 'interval' ? 'false' : '-EAGAIN';
        out.push({
          at: returnSite(cb, p),
          message:
            `returns ${ok} for a non-blockable range (the OOM reaper) without invalidating anything: the reaper then frees pages ` +
            `the device may still map. Invalidate without sleeping (trylock, clear and flush) or return ${fail}`,
        });
      }
    }
    return out;
  },
};

const startFailsWithEnd: CRule = {
  id: 'start-fails-with-end',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'start') continue;
      const table = cb.name.slice(0, cb.name.lastIndexOf('.'));
      const field = `${table}.invalidate_range_end`;
      const end =
        a.callbacks.find((e) => e.kind === 'end' && e.name === field)?.fn.name ?? a.unresolved.find((u) => u.startsWith(`${field} `));
      if (end === undefined) continue;
      for (const p of cb.paths) {
        if (p.outcome !== 'fail') continue;
        out.push({
          at: returnSite(cb, p),
          message:
            `returns ${p.returned} while ${table} also has invalidate_range_end (${end}): the kernel WARNs ` +
            `(mm/mmu_notifier.c, mn_hlist_invalidate_range_start: "a start that does EAGAIN can't also do end") and then calls ` +
            'invalidate_range_end for this start too, which did nothing. Make the start unable to fail (spin_lock, not ' +
            'spin_trylock), or do without invalidate_range_end',
        });
      }
    }
    return out;
  },
};

const lockLeak: CRule = {
  id: 'lock-leak',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const r of [...a.callbacks, ...a.entries]) {
      // `…_and_lock()`: a function named for a lock returns holding it when it succeeds.
      const handsOver = r.kind === 'fault' && /lock/.test(r.fn.name);
      for (const p of r.paths) {
        if ((handsOver && !p.returned.startsWith('-')) || p.state.cut === true) continue;
        for (const h of p.state.held) {
          const ret = r.kind === 'interval' || r.kind === 'start' || r.kind === 'fault' ? ` ${p.returned}` : '';
          out.push({
            at: returnSite(r, p),
            message: `${r.name} returns${ret} (${pathConditions(p.state)}) with \`${h.key}\` (taken at ${where(h.at)}) still held: release it on every path before returning`,
          });
        }
      }
    }
    return out;
  },
};

/** The callback kinds each removal waits for (see rules/remove-in-callback.ts). */
const REMOVAL_WAITS_FOR: Readonly<Record<string, readonly CCallbackKind[]>> = {
  mmu_interval_notifier_remove: ['interval', 'start'],
  mmu_notifier_unregister: ['start', 'end', 'release'],
};

const REMOVAL_HOW: Readonly<Record<string, string>> = {
  mmu_interval_notifier_remove: 'it waits (wait_event on subscriptions->wq) for the invalidation in progress on the mm to end',
  mmu_notifier_unregister: "it calls the notifier's release and waits in synchronize_srcu for every callback in progress",
};

function removalWaitsFor(fn: string, kind: CRun['kind']): boolean {
  return REMOVAL_WAITS_FOR[fn]?.some((k) => k === kind) ?? false;
}

/**
 * The first lock that a callback of the driver (folder) which `fn` waits for takes and can wait for,
 * and that is `h`: the same last name, and the same struct when both are known (`svms->lock` of
 * `struct svm_range_list` is not `pchild->lock` of `struct svm_range`).
 */
function callbackTakes(a: CAnalysis, fn: string, dir: string, h: Held): { cb: string; at: Site } | undefined {
  for (const cb of a.callbacks) {
    if (!removalWaitsFor(fn, cb.kind) || dirname(cb.fn.file) !== dir) continue;
    for (const p of cb.paths) {
      for (const e of p.state.effects) {
        if (e.t !== 'acquire' || e.trylock === true || lastName(e.key) !== h.name) continue;
        if (e.struct !== undefined && h.struct !== undefined && e.struct !== h.struct) continue;
        return { cb: cb.name, at: e.at };
      }
    }
  }
  return undefined;
}

const removeInCallback: CRule = {
  id: 'remove-in-callback',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const cb of a.callbacks) {
      for (const p of cb.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'unregister') continue;
          if (removalWaitsFor(e.fn, cb.kind)) {
            const instead =
              e.fn === 'mmu_notifier_unregister'
                ? 'drop the reference with mmu_notifier_put, which frees the notifier after the callbacks return without waiting, or unregister in the driver teardown'
                : 'remove the notifier in the driver teardown, or queue a work item that does it and do not wait for that work here';
            out.push({
              at: e.at,
              message:
                `${cb.name} calls ${e.fn}: ${REMOVAL_HOW[e.fn]}, and this callback is one of them, so the removal waits for itself ` +
                `and never returns: a deadlock, and every later invalidation of the mm hangs behind it. Never call ${e.fn} from a callback: ${instead}`,
            });
          } else if (e.fn === 'mmu_interval_notifier_remove') {
            out.push({
              at: e.at,
              message:
                `${cb.name} calls mmu_interval_notifier_remove, which the kernel forbids from any notifier callback (mm/mmu_notifier.c: ` +
                'it waits for the invalidations in progress, and lockdep reports it). Remove the notifier in the driver teardown, or from a work item this callback does not wait for',
            });
          }
        }
      }
    }
    for (const t of a.teardowns) {
      for (const p of t.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'unregister') continue;
          const dir = dirname(t.fn.file);
          const h = e.held.find((x) => callbackTakes(a, e.fn, dir, x) !== undefined);
          const taken = h === undefined ? undefined : callbackTakes(a, e.fn, dir, h);
          if (h === undefined || taken === undefined) continue;
          out.push({
            at: e.at,
            message:
              `${t.name} calls ${e.fn} holding \`${h.key}\` (taken at ${where(h.at)}), which ${taken.cb} takes at ${where(taken.at)}: ` +
              `${REMOVAL_HOW[e.fn]}, and a callback in progress blocks on the lock this path holds: a deadlock. Release \`${h.key}\` ` +
              'before the removal (mm/mmu_notifier.c: the caller must not hold any lock the callbacks take)',
          });
        }
      }
    }
    for (const cb of a.callbacks) {
      const works = a.works.get(dirname(cb.fn.file));
      for (const p of cb.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'sleep' || !/^(flush_work|cancel_work_sync|flush_delayed_work|cancel_delayed_work_sync)\(\)$/.test(e.what)) continue;
          const fn = works?.get(lastName(e.target ?? ''));
          const removal = fn === undefined ? undefined : a.removers.get(fn);
          if (fn === undefined || removal === undefined || !removalWaitsFor(removal, cb.kind)) continue;
          out.push({
            at: e.at,
            message:
              `${cb.name} waits in ${e.what} for the work item \`${e.target}\`, whose function ${fn} calls ${removal}: ${REMOVAL_HOW[removal]}, ` +
              'which is this callback: a deadlock. Queue the work and return without waiting for it',
          });
        }
      }
    }
    return out;
  },
};

const WATCHED = [EV.PROTECTION_VMA, EV.PROTECTION_PAGE, EV.SOFT_DIRTY, EV.RELEASE] as const;

function shortName(ev: number): string {
  return (EVENT_NAMES[Math.log2(ev)] as string).replace('MMU_NOTIFY_', '');
}

const eventFallthrough: CRule = {
  id: 'event-fallthrough',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const cb of a.callbacks) {
      if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
      if (!cb.paths.some((p) => didWork(p))) continue;
      const dropped = new Map<string, { events: number; at: Site }>();
      for (const ev of WATCHED) {
        const paths = cb.paths.filter((p) => (p.state.events & ev) !== 0);
        if (paths.length === 0 || paths.some((p) => didWork(p))) continue;
        for (const p of paths) {
          const tests = p.state.effects.filter((e): e is Eff<'event-test'> => e.t === 'event-test');
          const test = tests[tests.length - 1];
          if (test === undefined) continue;
          const named = test.at.text.includes(shortName(ev));
          const justified = named ? test.comments.length > 0 : test.comments.some((c) => c.includes(shortName(ev)));
          if (justified || cb.fn.doc.includes(shortName(ev))) continue;
          const key = `${test.at.file}:${test.at.line}`;
          const d = dropped.get(key) ?? { events: 0, at: test.at };
          d.events |= ev;
          dropped.set(key, d);
        }
      }
      for (const d of dropped.values()) {
        const names = eventNames(d.events);
        out.push({
          at: d.at,
          severity: d.events === EV.RELEASE ? 'warning' : 'error',
          message:
            `${names.join(', ')} ${names.length > 1 ? 'fall' : 'falls'} through this test of range->event and nothing is invalidated for ` +
            `${names.length > 1 ? 'them' : 'it'}: the CPU takes write permission away (or tears the mm down), so revoke or write-protect ` +
            'the device mapping too, or say in a comment here why the device cannot hold it',
        });
      }
    }
    return out;
  },
};

const clearWithoutFlush: CRule = {
  id: 'clear-without-flush',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const r of [...a.callbacks, ...a.entries]) {
      const groups = new Map<string, { flushed: boolean; op: Eff<'op'>; p: CPath }>();
      for (const p of r.paths) {
        if (p.state.cut === true) continue;
        const ops = deviceOps(p);
        for (const [i, op] of ops.entries()) {
          if (op.cls !== 'revoke') continue;
          const flushed = ops.slice(i + 1).some((x) => x.cls === 'tlb' || x.cls === 'invalidate');
          const key = `${op.at.file}:${op.at.line}\0${p.state.events}|${String(p.state.own)}|${String(p.state.blockable)}`;
          const g = groups.get(key);
          if (g === undefined) groups.set(key, { flushed, op, p });
          else g.flushed ||= flushed;
        }
      }
      const reported = new Set<string>();
      for (const g of groups.values()) {
        const site = `${g.op.at.file}:${g.op.at.line}`;
        if (g.flushed || reported.has(site)) continue;
        reported.add(site);
        out.push({
          at: g.op.at,
          message:
            `${r.name} returns after \`${g.op.name}()\` (${pathConditions(g.p.state, false)}) with no TLB flush after it: ` +
            'the device keeps using the translation its TLB cached. Flush the device TLB after the update, before returning',
        });
      }
    }
    return out;
  },
};

const dmaUnmapWhileMapped: CRule = {
  id: 'dma-unmap-while-mapped',
  severity: 'error',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    for (const r of [...a.callbacks, ...a.entries]) {
      for (const p of r.paths) {
        const ops = deviceOps(p);
        let cleared = false;
        let revoked = false;
        for (const [i, e] of ops.entries()) {
          if (e.cls === 'revoke') cleared = true;
          else if (e.cls === 'invalidate') revoked = true;
          else if (e.cls === 'tlb') revoked ||= cleared;
          else if (e.cls === 'dma-unmap') {
            if (revoked) break;
            const later = ops.slice(i + 1).find((x) => x.cls === 'revoke' || x.cls === 'tlb' || x.cls === 'invalidate');
            if (later !== undefined) {
              out.push({
                at: e.at,
                message:
                  `${r.name}: \`${e.name}()\` runs before the device translation is revoked (${pathConditions(p.state, false)}; ` +
                  `\`${later.name}()\` at ${where(later.at)} comes after it): until the PTE is cleared and the TLB flushed, ` +
                  'the device can still reach the page at a DMA address that is no longer mapped. Clear the PTE and flush the TLB first, then unmap',
              });
            }
            break;
          }
        }
      }
    }
    return out;
  },
};

type FieldEff = Eff<'field'>;

const MMGET = /^mmget_not_zero\(/;
const placeOf = (e: FieldEff): string => `${e.at.file}:${e.at.line}:${e.at.text}`;

/**
 * `unshared-driver-state`: a field of a driver struct (`p->f`, `p` declared `struct x *p`) written
 * by an invalidate callback and read or written by a fault path, or the other way round, with no
 * lock held in common and no `READ_ONCE`/`WRITE_ONCE` (internal/lockset.ts).
 */
/**
 * A path without the field accesses that come before it registers the notifier: no callback runs
 * before the registration, which orders them (gntdev_mmap sets `map->pages_vm_start`, then inserts
 * the notifier whose callback reads it).
 */
function afterPublish(p: CPath): CPath {
  const fx = p.state.effects;
  let last = -1;
  for (let i = 0; i < fx.length; i++) if (fx[i]?.t === 'publish') last = i;
  if (last < 0) return p;
  return { ...p, state: { ...p.state, effects: fx.filter((e, i) => i > last || e.t !== 'field') } };
}

const unsharedDriverState: CRule = {
  id: 'unshared-driver-state',
  severity: 'warning',
  check(a) {
    const inCallbacks = new Map<string, Access<FieldEff>[]>();
    const inEntries = new Map<string, Access<FieldEff>[]>();
    for (const cb of a.callbacks)
      collectAccesses(cb.paths, inCallbacks, { where: `${cb.name}()`, release: cb.kind === 'release', mmget: MMGET, placeOf });
    for (const en of a.entries) collectAccesses(en.paths.map(afterPublish), inEntries, { where: `${en.name}()`, mmget: MMGET, placeOf });
    return lockSetRaces(inCallbacks, inEntries).map(({ field, write: w, other: o }) => ({
      at: w.e.at,
      message:
        `\`${field}\` is written in ${w.where} with ${locksText(w)} held and ${o.e.write ? 'written' : 'read'} in ${o.where} at ${where(o.e.at)} with ${locksText(o)}: ` +
        'nothing orders the two, a data race. Take the lock the other side holds (a count both sides update needs it, or an atomic_t), or mark both accesses with READ_ONCE/WRITE_ONCE if a stale value is harmless',
    }));
  },
};

/** The C rules, in the TypeScript checker's report order. */
/** `set_page_dirty` and its kin (include/linux/mm.h, page-flags.h), or a driver helper that says it dirties pages. */
const DIRTIES =
  /^(set_page_dirty(_lock)?|folio_mark_dirty|folio_set_dirty|SetPageDirty)$|_(set|mark)_(page_|pages_)?dirty|_dirty_(range|pages|writable)$/;

/**
 * `revoke-without-dirty` (see rules/revoke-without-dirty.ts): an invalidate callback (interval or
 * classic start) of a driver whose fault path fills its device table from `hmm_range_fault`
 * (unpinned pages) revokes translations on a path the kernel takes for `MMU_NOTIFY_CLEAR`, and no
 * path through that revoke calls `set_page_dirty`: a device's write after `MADV_FREE` is discarded with the page by
 * reclaim (mm/rmap.c, `try_to_unmap_one`). Drivers that pin the pages they map are not mirrors
 * here: reclaim never discards a pinned page.
 */
const revokeWithoutDirty: CRule = {
  id: 'revoke-without-dirty',
  severity: 'warning',
  check(a) {
    const out: ReturnType<CRule['check']> = [];
    // The folders of the fault paths that call hmm_range_fault, and of the functions that call it.
    const mirrors = new Set<string>();
    for (const r of a.entries) {
      if (r.kind !== 'fault') continue;
      for (const p of r.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'op' || e.name !== 'hmm_range_fault') continue;
          mirrors.add(dirname(r.fn.file));
          mirrors.add(dirname(e.at.file));
        }
      }
    }
    // A callback is a mirror's when it, or code it runs (ODP's core helpers for mlx5), lives in
    // such a folder.
    const mirrorCode = (cb: (typeof a.callbacks)[number]): boolean =>
      mirrors.has(dirname(cb.fn.file)) ||
      cb.paths.some((p) => p.state.effects.some((e) => e.t === 'op' && mirrors.has(dirname(e.at.file))));
    for (const cb of a.callbacks) {
      if ((cb.kind !== 'interval' && cb.kind !== 'start') || !mirrorCode(cb)) continue;
      // Each revoke site, and whether some path through it calls set_page_dirty (before or after it).
      const sites = new Map<string, { dirtied: boolean; op: Eff<'op'>; p: CPath }>();
      for (const p of cb.paths) {
        if (p.state.cut === true || (p.state.events & EV.CLEAR) === 0) continue;
        const dirtied = p.state.effects.some((e) => e.t === 'op' && DIRTIES.test(e.name));
        for (const op of deviceOps(p)) {
          if (op.cls !== 'revoke' && op.cls !== 'invalidate' && !XA_ERASE.test(op.name)) continue;
          const site = `${op.at.file}:${op.at.line}`;
          const g = sites.get(site);
          if (g === undefined) sites.set(site, { dirtied, op, p });
          else g.dirtied ||= dirtied;
        }
      }
      for (const { dirtied, op, p } of sites.values()) {
        if (dirtied) continue;
        out.push({
          at: op.at,
          message:
            `${cb.name} revokes the device's translations with \`${op.name}()\` (${pathConditions(p.state, false)}) and no path ` +
            'through it calls set_page_dirty: the device reaches pages hmm_range_fault gave it, unpinned, and its write leaves ' +
            'the CPU entry clean, so after MADV_FREE reclaim (a CLEAR) discards the page with what the device wrote (mm/rmap.c, ' +
            'try_to_unmap_one). If the device can write system memory, set_page_dirty() the pages of the writable entries it ' +
            'revokes, as ib_umem_odp_unmap_dma_pages does',
        });
      }
    }
    return out;
  },
};

export const C_RULES: readonly CRule[] = [
  ownerWithoutEvent,
  skipBeforeSetSeq,
  skipAnyOwner,
  setSeqOutsideLock,
  retryOutsideLock,
  sleepWhenNonblockable,
  trueWhenNonblockable,
  startFailsWithEnd,
  lockLeak,
  removeInCallback,
  eventFallthrough,
  clearWithoutFlush,
  dmaUnmapWhileMapped,
  revokeWithoutDirty,
  unsharedDriverState,
];

/** Every finding of the rules asked for (all by default), one per rule and line. */
export function checkC(a: CAnalysis, only?: readonly string[]): CRawFinding[] {
  const seen = new Set<string>();
  const out: CRawFinding[] = [];
  for (const rule of C_RULES) {
    if (only !== undefined && !only.includes(rule.id)) continue;
    for (const f of rule.check(a)) {
      const key = `${rule.id}\0${f.at.file}\0${f.at.line}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ rule: rule.id, severity: f.severity ?? rule.severity, at: f.at, message: f.message });
    }
  }
  return out;
}
