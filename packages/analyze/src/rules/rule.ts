/**
 * What a lint rule is, and the helpers rules share: placing a finding in the user's files,
 * describing a path's conditions, and reading the comments around a statement.
 */
import { Node } from 'ts-morph';
import type { Analysis, CallbackPaths, PathResult } from '../internal/model/analyze.js';
import type { Effect, State } from '../internal/model/state.js';
import { ALL_EVENTS, eventSetText } from '../internal/model/values.js';

/** How bad a finding is: an error fails `hmmlab lint`, a warning does not. */
export type Severity = 'error' | 'warning';

/** A finding before it is placed in a file. */
export interface RawFinding {
  readonly node: Node;
  readonly message: string;
  /** Overrides the rule's severity for this finding. */
  readonly severity?: Severity;
}

/** A lint rule over the analysed paths. */
export interface Rule {
  /** Stable id, kebab-case. */
  readonly id: string;
  readonly severity: Severity;
  /** One line: what the rule catches. */
  readonly description: string;
  check(a: Analysis): RawFinding[];
}

/** The node to report for an effect: the innermost call site (or the node itself) inside a linted file. */
export function blame(a: Analysis, node: Node, stack: readonly Node[] = []): Node {
  for (const n of [node, ...[...stack].reverse()]) {
    if (a.files.has(n.getSourceFile().getFilePath())) return n;
  }
  return node;
}

/** The `return` effect a path's returned value came from, for its call stack. */
function returnEffect(p: PathResult): Extract<Effect, { t: 'return' }> | undefined {
  for (let i = p.state.effects.length - 1; i >= 0; i--) {
    const e = p.state.effects[i];
    if (e?.t === 'return' && e.node === p.origin) return e;
  }
  return undefined;
}

/** Where to report something about how a path returned. */
export function blameReturn(a: Analysis, cb: CallbackPaths, p: PathResult): Node {
  const r = returnEffect(p);
  if (r !== undefined) return blame(a, r.node, r.stack);
  return p.origin ?? cb.fn.node;
}

/** `file:line` of a node, relative to nothing (the base name of the file). */
export function at(n: Node): string {
  return `${n.getSourceFile().getBaseName()}:${n.getStartLineNumber()}`;
}

/** The conditions of a path, as a reader would say them. */
export function pathConditions(s: State): string {
  const parts: string[] = [];
  if (s.events !== ALL_EVENTS) parts.push(`range.event is ${eventSetText(s.events)}`);
  if (s.own !== undefined) parts.push(s.own ? 'the owner is its own' : 'the owner is not its own');
  if (s.blockable !== undefined) parts.push(s.blockable ? 'blockable' : 'not blockable');
  for (const d of s.decisions) if (d.kind !== 'owner') parts.push(`${d.text} is ${d.value}`);
  return parts.length === 0 ? 'on every path' : `when ${parts.join(', ')}`;
}

/** What the kernel decided on a path (event, owner, blockability), as a reader would say it. */
export function kernelConditions(s: State): string {
  return pathConditions({ ...s, decisions: s.decisions.filter((d) => d.kind === 'owner') });
}

/** True if the path did any of these effects. */
export function did(p: PathResult, t: Effect['t']): boolean {
  return p.state.effects.some((e) => e.t === t);
}

/** Comments in and around the statement that holds `n` (a switch clause counts as a statement). */
export function commentsAround(n: Node): string[] {
  let st: Node = n;
  while (!Node.isStatement(st) && !Node.isCaseClause(st) && !Node.isDefaultClause(st)) {
    const p = st.getParent();
    if (p === undefined) break;
    st = p;
  }
  const texts = [st.getFullText(), ...st.getTrailingCommentRanges().map((r) => r.getText())];
  return texts.flatMap((t) => t.match(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g) ?? []);
}
