/**
 * What the mutation operators look for in driver code: calls by the name of the kernel or device
 * API they make, the statement a call stands in, and the stable name of the function a place
 * belongs to (the key of a mutant's id).
 */
import { type CallExpression, Node, type SourceFile, type Statement, SyntaxKind } from 'ts-morph';

/** Device TLB invalidations: a flush (synchronous or fenced) or a quiesce of the device. */
export const TLB_FLUSHES = new Set(['flushTlb', 'flushTlbAsync', 'quiesce']);
/** Device page-table entries cleared or write-protected. */
export const PTE_CLEARS = new Set(['clearRange', 'clearPte', 'writeProtectRange']);
/** IOMMU/DMA mappings of system pages removed. */
export const DMA_UNMAPS = new Set(['dmaUnmap']);
/** A notifier taken off its mm: an interval notifier removed, a classic one unregistered or put. */
export const NOTIFIER_REMOVALS = new Set(['mmuIntervalNotifierRemove', 'mmuNotifierUnregister', 'mmuNotifierPut']);
/** Device calls whose first two arguments are the `[start, end)` of a range. */
export const RANGE_CALLS = new Set(['clearRange', 'writeProtectRange', 'flushTlb', 'flushTlbAsync']);
/** Lock methods (`mutex_lock`, `down_read`, `down_write` and their killable forms) → the unlock that pairs with them. */
export const LOCK_PAIRS: ReadonlyMap<string, string> = new Map([
  ['lock', 'unlock'],
  ['lockInterruptible', 'unlock'],
  ['lockKillable', 'unlock'],
  ['downRead', 'upRead'],
  ['downReadKillable', 'upRead'],
  ['downWrite', 'upWrite'],
  ['downWriteKillable', 'upWrite'],
]);
/** Trylocks, by the unlock that pairs with them. */
export const TRYLOCKS: ReadonlyMap<string, string> = new Map([
  ['tryLock', 'unlock'],
  ['downReadTrylock', 'upRead'],
  ['downWriteTrylock', 'upWrite'],
]);

/** The called name: `a.b.flushTlb(…)` → `flushTlb`, `mmuIntervalSetSeq(…)` → `mmuIntervalSetSeq`. */
export function callName(call: CallExpression): string {
  const e = call.getExpression();
  if (Node.isPropertyAccessExpression(e)) return e.getName();
  if (Node.isIdentifier(e)) return e.getText();
  return '';
}

/** The receiver's text of a method call (`this.mutex.lock()` → `this.mutex`), or null. */
export function receiverOf(call: CallExpression): string | null {
  const e = call.getExpression();
  return Node.isPropertyAccessExpression(e) ? e.getExpression().getText() : null;
}

/** Calls in `file` whose name is in `names`, in source order. */
export function callsNamed(file: SourceFile, names: ReadonlySet<string> | ReadonlyMap<string, string>): CallExpression[] {
  return file.getDescendantsOfKind(SyntaxKind.CallExpression).filter((c) => names.has(callName(c)));
}

/**
 * The statement that does nothing but `n` (`x.f();`, `await x.f();`, `await x.f().wait();`,
 * `fences.push(x.f());`), so that removing it removes exactly that call; null when `n`'s value is
 * used otherwise (returned, assigned, tested).
 */
export function soleStatement(n: Node): Statement | null {
  let cur: Node = n;
  for (let p = cur.getParent(); p !== undefined; cur = p, p = p.getParent()) {
    if (Node.isExpressionStatement(p)) return p;
    if (Node.isAwaitExpression(p) || Node.isParenthesizedExpression(p) || Node.isVoidExpression(p)) continue;
    if (Node.isPropertyAccessExpression(p) && p.getExpression() === cur) continue;
    if (Node.isCallExpression(p) && (p.getExpression() === cur || p.getArguments().includes(cur))) continue;
    return null;
  }
  return null;
}

/** The nearest function-like node around `n` (a function, method, accessor, arrow or constructor). */
export function enclosingFunction(n: Node): Node | undefined {
  return n.getFirstAncestor(
    (a) =>
      Node.isFunctionDeclaration(a) ||
      Node.isFunctionExpression(a) ||
      Node.isArrowFunction(a) ||
      Node.isMethodDeclaration(a) ||
      Node.isGetAccessorDeclaration(a) ||
      Node.isSetAccessorDeclaration(a) ||
      Node.isConstructorDeclaration(a),
  );
}

function ownerName(n: Node): string {
  const cls = n.getFirstAncestorByKind(SyntaxKind.ClassDeclaration);
  const obj = n.getParent();
  if (Node.isObjectLiteralExpression(obj)) {
    const holder = obj.getParent();
    if (Node.isVariableDeclaration(holder)) return holder.getName();
    if (Node.isPropertyAssignment(holder)) return `${ownerName(holder)}.${holder.getName()}`;
    // An object passed to a call (`mmuIntervalNotifierInsert(mni, mm, s, e, { invalidate … })`): named after the call.
    if (Node.isCallExpression(holder)) return `${callName(holder)}()`;
    return '{}';
  }
  return cls?.getName() ?? '';
}

/** The name of one function-like node: `Class.method`, `ops.invalidate`, `fn`, or null for an anonymous one. */
function functionName(f: Node): string | null {
  if (Node.isFunctionDeclaration(f)) return f.getName() ?? null;
  if (Node.isConstructorDeclaration(f)) return `${ownerName(f)}.constructor`;
  if (Node.isMethodDeclaration(f) || Node.isGetAccessorDeclaration(f) || Node.isSetAccessorDeclaration(f)) {
    const owner = ownerName(f);
    return owner === '' ? f.getName() : `${owner}.${f.getName()}`;
  }
  const p = f.getParent();
  if (Node.isVariableDeclaration(p)) return p.getName();
  if (Node.isPropertyAssignment(p) || Node.isPropertyDeclaration(p)) {
    const owner = ownerName(p);
    return owner === '' ? p.getName() : `${owner}.${p.getName()}`;
  }
  return null;
}

/**
 * The stable name of the place `n` is in: the innermost named function, with `>λ` for each
 * anonymous function (a callback) between it and `n`; `<module>` at top level. It does not depend
 * on line numbers, so a mutant's id survives edits elsewhere in the file.
 */
export function placeKey(n: Node): string {
  const parts: string[] = [];
  for (let f = enclosingFunction(n); f !== undefined; f = enclosingFunction(f)) {
    const name = functionName(f);
    if (name !== null) {
      parts.unshift(name);
      return parts.join('>');
    }
    parts.unshift('λ');
  }
  parts.unshift('<module>');
  return parts.join('>');
}

/** The outermost named function around `n` (for operators that act on a whole callback). */
export function namedFunction(n: Node): Node | undefined {
  for (let f = enclosingFunction(n); f !== undefined; f = enclosingFunction(f)) if (functionName(f) !== null) return f;
  return undefined;
}
