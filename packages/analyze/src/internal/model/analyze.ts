/**
 * Runs the path interpreter over everything `discover` found and returns the paths, each with
 * its final knowledge, effects and outcome: what the rules and decision tables read.
 */
import type { Node, SourceFile } from 'ts-morph';
import { type Callback, type CallbackKind, discover, type Entry } from './discover.js';
import { Interp } from './interp.js';
import type { Program } from './program.js';
import { decide, type Effect, initialState, type State } from './state.js';
import { asCond, keyOf, type Located, sym, type Value } from './values.js';

/** How a path ended: the callback succeeded (`true` / 0), failed (`false` / `-EAGAIN`), or threw. */
export type Outcome = 'ok' | 'fail' | 'unknown' | 'throw';

/** One path of a function. */
export interface PathResult {
  readonly state: State;
  readonly outcome: Outcome;
  /** The returned value as text (`true`, `-11`, …). */
  readonly returned: string;
  /** The `return` (or arrow body) the returned value came from, innermost inlined function first. */
  readonly origin: Node | undefined;
}

/** The paths of one callback. */
export interface CallbackPaths extends Callback {
  readonly paths: readonly PathResult[];
  readonly truncated: boolean;
}

/** The paths of one entry point or function. */
export interface EntryPaths extends Entry {
  readonly paths: readonly PathResult[];
  readonly truncated: boolean;
  /**
   * A function of the driver (not an entry point of its own) that another analysed function calls
   * and whose body the analysis of that caller followed: what it leaves undone (a flush after its
   * zap) may be done by the caller, so rules that judge a path's end judge it in its callers.
   */
  readonly helper: boolean;
}

/** Everything the rules look at. */
export interface Analysis {
  readonly program: Program;
  /** Files the user named: findings are placed in them where the call chain allows. */
  readonly files: ReadonlySet<string>;
  readonly callbacks: readonly CallbackPaths[];
  readonly entries: readonly EntryPaths[];
  /** Last names of the locks held where `mmuIntervalReadRetry` is checked. */
  readonly retryLocks: ReadonlySet<string>;
  /** Last names of the locks held where callbacks call `mmuIntervalSetSeq`. */
  readonly seqLocks: ReadonlySet<string>;
}

const RANGE: Value = { k: 'range' };

function argsFor(kind: CallbackKind | 'entry', fn: Node): Value[] {
  switch (kind) {
    case 'interval':
      return [sym('mni'), RANGE, sym('curSeq', 'number')];
    case 'start':
    case 'end':
      return [sym('subscription'), RANGE];
    case 'release':
      return [sym('subscription'), sym('mm')];
    case 'entry': {
      const params = 'getParameters' in fn && typeof fn.getParameters === 'function' ? (fn.getParameters() as Node[]) : [];
      return params.map((p) => sym((p as Node & { getName(): string }).getName()));
    }
  }
}

function outcomeOf(kind: CallbackKind | 'entry', v: Located, s: State, ip: Interp): [State, Outcome, string][] {
  const text = v.k === 'const' ? String(v.v) : keyOf(v);
  if (kind === 'interval') {
    return decide(asCond(v), s, ip.budget, []).map(([t, b]): [State, Outcome, string] => [
      t,
      b ? 'ok' : 'fail',
      v.k === 'const' ? text : String(b),
    ]);
  }
  if (kind === 'start') {
    if (v.k === 'const') return [[s, v.v === undefined || v.v === 0 ? 'ok' : 'fail', text]];
    return [[s, 'unknown', text]];
  }
  return [[s, 'ok', text]];
}

function run(
  program: Program,
  kind: CallbackKind | 'entry',
  fn: Callback['fn'],
  called: Set<Node>,
): { paths: PathResult[]; truncated: boolean } {
  // Entry points (ioctls, fault handlers) reach much more code than callbacks: half the branches,
  // and lint lists those that outrun them (LintResult.incomplete).
  const ip = new Interp(program, kind === 'entry' ? { maxForks: 1000, maxSteps: 100_000 } : {}, called);
  const paths: PathResult[] = [];
  for (const [s, v] of ip.call(fn, argsFor(kind, fn.node), initialState(), null)) {
    for (const [t, outcome, returned] of outcomeOf(kind, v, s, ip)) paths.push({ state: t, outcome, returned, origin: v.origin });
  }
  for (const s of ip.thrown) paths.push({ state: s, outcome: 'throw', returned: 'throw', origin: undefined });
  return { paths, truncated: ip.budget.truncated };
}

function lockNames(paths: readonly PathResult[], t: 'set-seq' | 'read-retry'): string[] {
  return paths.flatMap((p) => p.state.effects.flatMap((e: Effect) => (e.t === t ? e.held.map((h) => h.name) : [])));
}

/**
 * Loads every file `files` import, directly or not: which classes extend a class and where the
 * driver makes its objects (calls.ts) are read from the loaded files, and must not depend on which
 * run happened to load a file first.
 */
function loadImports(program: Program, files: readonly SourceFile[]): void {
  const seen = new Set<SourceFile>();
  const work = [...files];
  for (let f = work.pop(); f !== undefined; f = work.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    for (const d of [...f.getImportDeclarations(), ...f.getExportDeclarations()]) {
      const spec = d.getModuleSpecifierValue();
      const target = spec === undefined ? undefined : program.resolveModule(f, spec);
      if (target !== undefined) work.push(target);
    }
  }
}

/** Analyzes `files`. */
export function analyzeFiles(program: Program, files: readonly SourceFile[]): Analysis {
  loadImports(program, files);
  const found = discover(program, files);
  const called = new Set<Node>();
  const callbacks = found.callbacks.map((c) => ({ ...c, ...run(program, c.kind, c.fn, called) }));
  const ran = found.entries.map((e) => ({ ...e, ...run(program, 'entry', e.fn, called) }));
  const entries = ran.map((e) => ({ ...e, helper: !e.driverEntry && called.has(e.fn.node) }));
  const all = [...callbacks, ...entries];
  return {
    program,
    files: new Set(files.map((f) => f.getFilePath())),
    callbacks,
    entries,
    retryLocks: new Set(all.flatMap((a) => lockNames(a.paths, 'read-retry'))),
    seqLocks: new Set(callbacks.flatMap((a) => lockNames(a.paths, 'set-seq'))),
  };
}
