/**
 * `remove-in-callback`: a notifier removal that waits for a callback which cannot finish.
 * `mmu_interval_notifier_remove` waits (`wait_event(subscriptions->wq, …)`) for the invalidation
 * in progress on the mm to end, and that ends at `invalidate_range_end`, after the interval
 * `invalidate` and the classic `invalidate_range_start` callbacks returned;
 * `mmu_notifier_unregister` calls the notifier's `release` and then `synchronize_srcu`, which
 * waits for every classic callback in progress (`invalidate_range_start`, `_end`, `release` run in
 * an SRCU read section) (mm/mmu_notifier.c). So it deadlocks when
 *
 * - a callback calls it: the removal waits for itself (the kernel: remove "cannot be called from
 *   any ops callback"; `synchronize_srcu` inside an SRCU read section of the same domain);
 * - a driver entry point (unbind, close, an ioctl, a work item) calls it holding a lock that a
 *   callback it waits for takes: that callback blocks on the lock, the removal on the callback
 *   ("the caller [must] not hold any locks held by invalidation callbacks");
 * - a callback waits for a work item (`flushWork`, `cancelSync`) that calls it.
 *
 * `mmuNotifierPut` frees after a grace period without waiting, and an interval `invalidate` is
 * not in the SRCU section `mmuNotifierUnregister` waits for: neither is reported.
 */
import { Node } from 'ts-morph';
import type { Analysis, CallbackPaths, EntryPaths } from '../internal/model/analyze.js';
import type { CallbackKind } from '../internal/model/discover.js';
import type { Effect } from '../internal/model/state.js';
import { at, blame, type RawFinding, type Rule } from './rule.js';

type Unregister = Extract<Effect, { t: 'unregister' }>;

/** The callback kinds each removal waits for. */
const WAITS_FOR: Readonly<Record<string, readonly CallbackKind[]>> = {
  mmuIntervalNotifierRemove: ['interval', 'start'],
  mmuNotifierUnregister: ['start', 'end', 'release'],
};

/** What each removal waits on, in the kernel's words. */
const HOW: Readonly<Record<string, string>> = {
  mmuIntervalNotifierRemove:
    'mmu_interval_notifier_remove waits (wait_event on subscriptions->wq) for the invalidation in progress on the mm to end',
  mmuNotifierUnregister:
    "mmu_notifier_unregister calls the notifier's release and waits in synchronize_srcu for every callback in progress",
};

function waitsFor(fn: string, kind: CallbackKind): boolean {
  return WAITS_FOR[fn]?.includes(kind) ?? false;
}

/** Case 1: the callback removes its own notifier (or any: the removal waits for the whole mm). */
function inCallback(a: Analysis, cb: CallbackPaths, e: Unregister): RawFinding | undefined {
  const kernel = e.fn === 'mmuIntervalNotifierRemove' ? 'mmu_interval_notifier_remove' : 'mmu_notifier_unregister';
  if (waitsFor(e.fn, cb.kind)) {
    const instead =
      e.fn === 'mmuNotifierUnregister'
        ? 'drop the reference with mmuNotifierPut, which frees the notifier after the callbacks return without waiting, or unregister in the driver teardown'
        : 'remove the notifier in the driver teardown (unbind, release of the file), or queue a work item that does it and do not wait for that work here';
    return {
      node: blame(a, e.node, e.stack),
      message:
        `${cb.name} calls ${e.fn}: ${HOW[e.fn]}, and this callback is one of them, so the removal waits for itself and never ` +
        `returns: a deadlock, and every later invalidation of the mm hangs behind it. Never call ${kernel} from a callback: ${instead}`,
    };
  }
  if (e.fn === 'mmuIntervalNotifierRemove') {
    return {
      node: blame(a, e.node, e.stack),
      message:
        `${cb.name} calls mmuIntervalNotifierRemove, which the kernel forbids from any notifier callback (mm/mmu_notifier.c, ` +
        'mmu_interval_notifier_remove: it waits for the invalidations in progress, and lockdep reports it). Remove the notifier ' +
        'in the driver teardown, or from a work item this callback does not wait for',
    };
  }
  return undefined;
}

/** The locks the callbacks a removal waits for take with a blocking acquire: name → where. */
function callbackLocks(a: Analysis, fn: string): Map<string, { cb: string; node: Node }> {
  const out = new Map<string, { cb: string; node: Node }>();
  for (const cb of a.callbacks) {
    if (!waitsFor(fn, cb.kind)) continue;
    for (const p of cb.paths) {
      for (const e of p.state.effects) {
        if (e.t === 'acquire' && e.blocking && !out.has(e.name)) out.set(e.name, { cb: cb.name, node: e.node });
      }
    }
  }
  return out;
}

/** Case 2: an entry point removes while holding a lock a callback it waits for takes (`locks`: {@link callbackLocks} of its removal). */
function underLock(
  a: Analysis,
  entry: EntryPaths,
  e: Unregister,
  locks: ReadonlyMap<string, { cb: string; node: Node }>,
): RawFinding | undefined {
  for (const h of e.held) {
    const taken = locks.get(h.name);
    if (taken === undefined) continue;
    return {
      node: blame(a, e.node, e.stack),
      message:
        `${entry.name} calls ${e.fn} holding \`${h.key}\` (taken at ${at(h.node)}), which ${taken.cb} takes at ${at(taken.node)}: ` +
        `${HOW[e.fn]}, and a callback in progress blocks on the lock this path holds: a deadlock. Release \`${h.key}\` before ` +
        'the removal (mm/mmu_notifier.c: the caller must not hold any lock the callbacks take), and stop new faults another way ' +
        '(a flag checked under the lock) if that is why it is held',
    };
  }
  return undefined;
}

/** The last name a work item is kept under (`this.removeWork`, `const gc = new Work(…)`), from its function. */
function workName(fn: Node): string | undefined {
  const ne = fn.getParent();
  if (ne === undefined || !Node.isNewExpression(ne) || !/^(Delayed)?Work$/.test(ne.getExpression().getText())) return undefined;
  const holder = ne.getParent();
  if (holder === undefined) return undefined;
  if (Node.isPropertyDeclaration(holder) || Node.isVariableDeclaration(holder)) return holder.getName();
  if (Node.isBinaryExpression(holder)) return lastName(holder.getLeft().getText());
  return undefined;
}

function lastName(text: string): string {
  return text.split('.').pop() ?? text;
}

/** Case 3: a callback waits for a work item that removes. */
function waitsForWork(a: Analysis, cb: CallbackPaths, removers: ReadonlyMap<string, Unregister>): RawFinding[] {
  const out: RawFinding[] = [];
  for (const p of cb.paths) {
    for (const e of p.state.effects) {
      if (e.t !== 'sleep' || !Node.isCallExpression(e.node)) continue;
      const callee = e.node.getExpression();
      if (!Node.isPropertyAccessExpression(callee) || !/^(flushWork|cancelSync)$/.test(callee.getName())) continue;
      const arg = e.node.getArguments()[0];
      const r = arg === undefined ? undefined : removers.get(lastName(arg.getText()));
      if (r === undefined || !waitsFor(r.fn, cb.kind)) continue;
      out.push({
        node: blame(a, e.node, e.stack),
        message:
          `${cb.name} waits in ${callee.getName()} for the work item \`${arg?.getText()}\`, which calls ${r.fn} at ${at(r.node)}: ` +
          `${HOW[r.fn]}, which is this callback: a deadlock. Queue the work and return without waiting for it`,
      });
    }
  }
  return out;
}

/** The `remove-in-callback` rule (see the file comment). */
export const removeInCallback: Rule = {
  id: 'remove-in-callback',
  severity: 'error',
  description: 'a notifier removal waits for a callback that cannot finish: called from a callback, or under a lock a callback takes',
  check(a) {
    const out: RawFinding[] = [];
    const callbackFns = new Set(a.callbacks.map((c) => c.fn.node));
    for (const cb of a.callbacks) {
      for (const p of cb.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'unregister') continue;
          const f = inCallback(a, cb, e);
          if (f !== undefined) out.push(f);
        }
      }
    }
    const removers = new Map<string, Unregister>();
    // The locks the callbacks take, by removal: the same for every path of every entry point.
    const locksOf = new Map<string, Map<string, { cb: string; node: Node }>>();
    for (const entry of a.entries) {
      if (callbackFns.has(entry.fn.node)) continue;
      for (const p of entry.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'unregister') continue;
          const name = workName(entry.fn.node);
          if (name !== undefined && !removers.has(name)) removers.set(name, e);
          let locks = locksOf.get(e.fn);
          if (locks === undefined) {
            locks = callbackLocks(a, e.fn);
            locksOf.set(e.fn, locks);
          }
          const f = underLock(a, entry, e, locks);
          if (f !== undefined) out.push(f);
        }
      }
    }
    for (const cb of a.callbacks) out.push(...waitsForWork(a, cb, removers));
    return out;
  },
};
