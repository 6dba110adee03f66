/**
 * The state of one path through a callback: what it has learned about the range (event set,
 * owner match, blockability), the driver-state tests it decided, the locks it holds, its
 * variables, and the effects it performed in order. Forking copies the state.
 */
import type { Node } from 'ts-morph';
import { ALL_EVENTS, type Cond, type Located, NONBLOCKABLE_EVENTS, type Value } from './values.js';

/** A lock the path holds. */
export interface Held {
  /** Canonical expression of the lock (`this.lock`, `dmirror.mutex`). */
  readonly key: string;
  /** Its last name (`lock`, `mutex`): how locks are matched across functions. */
  readonly name: string;
  readonly node: Node;
  /** Call sites from the entry to the acquisition, outermost first. */
  readonly stack: readonly Node[];
}

interface At {
  readonly node: Node;
  /** Call sites from the entry to the effect, outermost first. */
  readonly stack: readonly Node[];
}

/** Something a path did, in order. */
export type Effect =
  | (At & { readonly t: 'acquire'; readonly lock: string; readonly name: string; readonly blocking: boolean })
  | (At & { readonly t: 'release'; readonly lock: string; readonly name: string })
  | (At & { readonly t: 'set-seq'; readonly held: readonly Held[] })
  | (At & { readonly t: 'read-retry'; readonly held: readonly Held[] })
  /** A device invalidation: a PTE cleared or write-protected, a TLB flush, a quiesce, a DMA unmap. */
  | (At & { readonly t: 'flush'; readonly op: string; readonly target: string })
  /** Pages marked dirty (`setPageDirty`, `DeviceVm.dirtyWritable`): what the device wrote is kept. */
  | (At & { readonly t: 'dirty'; readonly op: string })
  /** The device is programmed (a PTE written, a page DMA-mapped). */
  | (At & { readonly t: 'program'; readonly op: string; readonly held: readonly Held[] })
  | (At & { readonly t: 'sleep'; readonly what: string })
  /**
   * `mmuIntervalNotifierRemove` or `mmuNotifierUnregister` (`fn`): both wait for notifier
   * callbacks in progress (mm/mmu_notifier.c: `wait_event` on the invalidation sequence,
   * `synchronize_srcu`).
   */
  | (At & { readonly t: 'unregister'; readonly fn: string; readonly held: readonly Held[] })
  /** The owner was tested while the path allowed these events. */
  | (At & { readonly t: 'owner-test'; readonly events: number })
  /** The event was tested; `positive` when this path is the one where it matched the named events. */
  | (At & { readonly t: 'event-test'; readonly set: number; readonly positive: boolean })
  | (At & { readonly t: 'return'; readonly held: readonly Held[] })
  /** A field of plain driver state (`Class.field`: a number, flag, string, array, Map or Set) read or written. */
  | (At & { readonly t: 'field'; readonly field: string; readonly write: boolean; readonly held: readonly Held[] });

/** A decision of the path, for decision tables. */
export interface Decision {
  readonly kind: 'owner' | 'blockable' | 'trylock' | 'state';
  readonly text: string;
  readonly value: boolean;
}

/** How the statement that ran last completed. */
export type Control = 'normal' | 'return' | 'break' | 'continue' | 'throw';

/** One path. */
export interface State {
  events: number;
  own: boolean | undefined;
  blockable: boolean | undefined;
  atoms: Map<string, boolean>;
  vars: Map<string, Value>;
  held: Held[];
  effects: Effect[];
  decisions: Decision[];
  ctl: Control;
  label: string | undefined;
  ret: Located | undefined;
}

/** A fresh path. */
export function initialState(): State {
  return {
    events: ALL_EVENTS,
    own: undefined,
    blockable: undefined,
    atoms: new Map(),
    vars: new Map(),
    held: [],
    effects: [],
    decisions: [],
    ctl: 'normal',
    label: undefined,
    ret: undefined,
  };
}

/** A copy of `s` that can change independently. */
function fork(s: State): State {
  return {
    ...s,
    atoms: new Map(s.atoms),
    vars: new Map(s.vars),
    held: [...s.held],
    effects: [...s.effects],
    decisions: [...s.decisions],
  };
}

/** Limits the number of paths of one analysis. */
export interface Budget {
  forks: number;
  readonly maxForks: number;
  truncated: boolean;
}

/** The blockability a path may still have, given its events (only the OOM reaper's UNMAP is non-blockable). */
function narrowEvents(s: State, set: number): boolean {
  s.events = set;
  if ((set & NONBLOCKABLE_EVENTS) === 0) {
    if (s.blockable === false) return false;
  }
  return set !== 0;
}

/** Splits `s` into the paths where `c` is true and false (one of them when `s` already decides it). */
export function decide(c: Cond, s: State, budget: Budget, stack: readonly Node[]): [State, boolean][] {
  switch (c.k) {
    case 'const':
      return [[s, c.v]];
    case 'not':
      return decide(c.c, s, budget, stack).map(([t, v]) => [t, !v]);
    case 'and':
      return decide(c.a, s, budget, stack).flatMap(([t, v]): [State, boolean][] => (v ? decide(c.b, t, budget, stack) : [[t, false]]));
    case 'or':
      return decide(c.a, s, budget, stack).flatMap(([t, v]): [State, boolean][] => (v ? [[t, true]] : decide(c.b, t, budget, stack)));
    case 'event': {
      const inside = s.events & c.set;
      const outside = s.events & ~c.set;
      const out: [State, boolean][] = [];
      const both = inside !== 0 && outside !== 0;
      for (const [set, v] of [
        [inside, true],
        [outside, false],
      ] as const) {
        if (set === 0) continue;
        const t = both ? split(s, budget) : s;
        if (t === null || !narrowEvents(t, set)) continue;
        if (both) t.effects.push({ t: 'event-test', set: c.set, positive: v, node: c.node, stack });
        out.push([t, v]);
      }
      return out;
    }
    case 'owner': {
      const nullKey = 'range owner is NULL';
      const known = c.match ? s.own : s.atoms.get(nullKey);
      if (known !== undefined) return [[s, known]];
      const events = s.events;
      return branches(s, budget, (t, v) => {
        if (c.match) t.own = v;
        else t.atoms.set(nullKey, v);
        t.effects.push({ t: 'owner-test', events, node: c.node, stack });
        t.decisions.push({ kind: 'owner', text: c.text, value: v });
        return true;
      });
    }
    case 'blockable': {
      if (s.blockable !== undefined) return [[s, s.blockable]];
      if ((s.events & NONBLOCKABLE_EVENTS) === 0) {
        s.blockable = true;
        return [[s, true]];
      }
      return branches(s, budget, (t, v) => {
        t.blockable = v;
        if (!v) t.events &= NONBLOCKABLE_EVENTS;
        return true;
      });
    }
    case 'atom': {
      const known = s.atoms.get(c.key);
      if (known !== undefined) return [[s, known]];
      return branches(s, budget, (t, v) => {
        t.atoms.set(c.key, v);
        t.decisions.push({ kind: 'state', text: c.key, value: v });
        return true;
      });
    }
  }
}

function split(s: State, budget: Budget): State | null {
  if (budget.forks >= budget.maxForks) {
    budget.truncated = true;
    return null;
  }
  budget.forks++;
  return fork(s);
}

/** The true and false paths of a two-way test; `apply` records the choice (false drops an infeasible path). */
export function branches(s: State, budget: Budget, apply: (t: State, v: boolean) => boolean): [State, boolean][] {
  const f = split(s, budget);
  const out: [State, boolean][] = [];
  if (apply(s, true)) out.push([s, true]);
  if (f !== null && apply(f, false)) out.push([f, false]);
  return out;
}
