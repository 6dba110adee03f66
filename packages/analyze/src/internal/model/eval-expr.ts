/**
 * Expressions: each evaluates to one value per path, and may fork the path (a short-circuit
 * test, a conditional, a trylock, an inlined call with several returns).
 */
import { type CallExpression, type Identifier, Node, type PropertyAccessExpression, SyntaxKind, VariableDeclarationKind } from 'ts-morph';
import { classNamed, evalCall, evalNew, plainField, property, touchField } from './calls.js';
import { closure, type Frame, type Interp } from './interp.js';
import { findSetter } from './program.js';
import { decide, type State } from './state.js';
import {
  asCond,
  type Cond,
  FALSE,
  type FnValue,
  keyOf,
  knownConstant,
  type Located,
  lookupSlot,
  notCond,
  sym,
  TRUE,
  UNDEF,
  type Value,
} from './values.js';

type Out = [State, Located][];

/** Evaluates `e` on path `s`. */
export function evalExpr(ip: Interp, fr: Frame, e: Node, s: State): Out {
  if (!ip.step()) return [];
  // The commonest kinds first, by one kind test each: every `Node.isX` below asks ts-morph for
  // the node's kind again.
  const kind = e.getKind();
  if (kind === SyntaxKind.Identifier) {
    const v = identifier(ip, fr, e.getText(), e, s);
    // The range's owner in a variable: a test of it is where the variable is read.
    return [[s, v.k === 'owner' ? { ...v, node: e } : v]];
  }
  if (kind === SyntaxKind.PropertyAccessExpression) {
    const pa = e as PropertyAccessExpression;
    const name = pa.getName();
    return evalExpr(ip, fr, pa.getExpression(), s).flatMap(([t, v]) => property(ip, v, name, t, pa));
  }
  if (kind === SyntaxKind.CallExpression) return evalCall(ip, fr, e as CallExpression, s);
  if (Node.isAsExpression(e)) {
    // `mni as DrmGpusvmNotifier`: the class keys the fields read through it.
    const type = e.getTypeNode();
    const fcls = type === undefined ? undefined : classNamed(ip, type);
    return evalExpr(ip, fr, e.getExpression(), s).map(([t, v]): [State, Located] => [
      t,
      fcls !== undefined && v.k === 'sym' && v.cls === undefined ? { ...v, fcls } : v,
    ]);
  }
  if (
    Node.isParenthesizedExpression(e) ||
    Node.isNonNullExpression(e) ||
    Node.isTypeAssertion(e) ||
    Node.isSatisfiesExpression(e) ||
    Node.isAwaitExpression(e)
  ) {
    return evalExpr(ip, fr, e.getExpression(), s);
  }
  if (Node.isNumericLiteral(e)) return [[s, { k: 'const', v: e.getLiteralValue() }]];
  if (Node.isStringLiteral(e) || Node.isNoSubstitutionTemplateLiteral(e)) return [[s, { k: 'const', v: e.getLiteralValue() }]];
  switch (kind) {
    case SyntaxKind.TrueKeyword:
      return [[s, TRUE]];
    case SyntaxKind.FalseKeyword:
      return [[s, FALSE]];
    case SyntaxKind.NullKeyword:
      return [[s, { k: 'const', v: null }]];
    case SyntaxKind.ThisKeyword:
      return [[s, fr.thisValue ?? sym('this')]];
  }
  if (Node.isElementAccessExpression(e)) {
    const arg = e.getArgumentExpression();
    return evalExpr(ip, fr, e.getExpression(), s).flatMap(([t, v]) =>
      arg === undefined
        ? [[t, sym(`${keyOf(v)}[]`)]]
        : evalExpr(ip, fr, arg, t).map(([u, a]): [State, Located] => [u, sym(`${keyOf(v)}[${keyOf(a)}]`)]),
    );
  }
  if (Node.isNewExpression(e)) return evalNew(ip, fr, e, s);
  if (Node.isArrowFunction(e) || Node.isFunctionExpression(e)) return [[s, closure(fr, e)]];
  if (Node.isPrefixUnaryExpression(e)) return prefix(ip, fr, e.getOperatorToken(), e.getOperand(), s);
  if (Node.isPostfixUnaryExpression(e)) return assignTo(ip, fr, e.getOperand(), sym(e.getText(), 'number'), s);
  if (Node.isTypeOfExpression(e)) {
    return evalExpr(ip, fr, e.getExpression(), s).map(([t, v]): [State, Located] => [t, typeOf(v)]);
  }
  if (Node.isVoidExpression(e)) return evalExpr(ip, fr, e.getExpression(), s).map(([t]): [State, Located] => [t, UNDEF]);
  if (Node.isConditionalExpression(e)) {
    return evalExpr(ip, fr, e.getCondition(), s).flatMap(([t, c]) =>
      decide(asCond(c), t, ip.budget, ip.where()).flatMap(([u, v]) => evalExpr(ip, fr, v ? e.getWhenTrue() : e.getWhenFalse(), u)),
    );
  }
  if (Node.isBinaryExpression(e)) return binary(ip, fr, e, s);
  if (Node.isObjectLiteralExpression(e)) return objectLiteral(ip, fr, e, s);
  if (Node.isArrayLiteralExpression(e)) {
    let states: Out = [[s, UNDEF]];
    for (const el of e.getElements())
      states = states.flatMap(([t]) => evalExpr(ip, fr, Node.isSpreadElement(el) ? el.getExpression() : el, t));
    return states.map(([t]) => [t, sym(`[${e.getElements().length}]`, 'object')]);
  }
  if (Node.isTemplateExpression(e)) {
    let states: Out = [[s, UNDEF]];
    for (const span of e.getTemplateSpans()) states = states.flatMap(([t]) => evalExpr(ip, fr, span.getExpression(), t));
    return states.map(([t]) => [t, sym('`template`', 'string')]);
  }
  if (Node.isSpreadElement(e)) return evalExpr(ip, fr, e.getExpression(), s);
  return [[s, sym(e.getText())]];
}

/** The value of a name on path `s`. */
function identifier(ip: Interp, fr: Frame, name: string, at: Node, s: State): Value {
  const slot = lookupSlot(fr.env, name);
  if (slot !== undefined) return s.vars.get(slot) ?? UNDEF;
  return declared(ip, name, at, 0);
}

/**
 * The name a `const` declaration only renames (`const faultLock = lock;` gives `lock`): a lock, a
 * device or a notifier is the same object under either name. Undefined for any other declaration.
 */
function aliased(decl: Node): Identifier | undefined {
  if (!Node.isVariableDeclaration(decl)) return undefined;
  const init = decl.getInitializer();
  return init !== undefined &&
    Node.isIdentifier(init) &&
    decl.getVariableStatement()?.getDeclarationKind() === VariableDeclarationKind.Const
    ? init
    : undefined;
}

/** The value of a name declared outside the running frames (`depth`: renames followed so far). */
function declared(ip: Interp, name: string, at: Node, depth: number): Value {
  if (name === 'undefined') return UNDEF;
  const b = ip.program.lookup(name, at);
  if (b === undefined || b.kind === 'package') {
    const c = knownConstant(b?.name ?? name);
    return c === undefined ? sym(name) : { k: 'const', v: c };
  }
  switch (b.kind) {
    case 'class':
      return { k: 'sym', key: name, cls: b.info, type: 'function' };
    case 'function':
      return { k: 'fn', node: b.node, env: null, thisValue: null, owner: null };
    case 'variable': {
      const init = b.node.getInitializer();
      if (init !== undefined && (Node.isArrowFunction(init) || Node.isFunctionExpression(init))) {
        return { k: 'fn', node: init, env: null, thisValue: null, owner: null };
      }
      const lit = init === undefined ? undefined : literal(init);
      return lit ?? renamed(ip, name, b.node, depth);
    }
    case 'outer':
      return renamed(ip, name, b.node, depth);
  }
}

/** A name whose declaration `decl` may rename another: that one's value, else the name's own symbol. */
function renamed(ip: Interp, name: string, decl: Node, depth: number): Value {
  const target = depth < 8 ? aliased(decl) : undefined;
  if (target !== undefined) return declared(ip, target.getText(), target, depth + 1);
  // A parameter of an enclosing function the run did not enter (`m` of a factory `mirrorOps(m:
  // Mirror)`): its declared type keys its fields and, for a class nothing extends, its methods.
  const type = Node.isParameterDeclaration(decl) ? decl.getTypeNode() : undefined;
  const fcls = type === undefined ? undefined : classNamed(ip, type);
  return fcls === undefined ? sym(name) : { k: 'sym', key: name, fcls };
}

function literal(e: Node): Value | undefined {
  if (Node.isNumericLiteral(e) || Node.isStringLiteral(e)) return { k: 'const', v: e.getLiteralValue() };
  if (Node.isPrefixUnaryExpression(e) && e.getOperatorToken() === SyntaxKind.MinusToken && Node.isNumericLiteral(e.getOperand())) {
    return { k: 'const', v: -Number(e.getOperand().getText()) };
  }
  return undefined;
}

function typeOf(v: Value): Value {
  switch (v.k) {
    case 'const':
      return { k: 'const', v: v.v === null ? 'object' : typeof v.v };
    case 'fn':
      return { k: 'const', v: 'function' };
    case 'obj':
    case 'range':
      return { k: 'const', v: 'object' };
    case 'cond':
      return { k: 'const', v: 'boolean' };
    case 'sym':
      return v.type === undefined ? sym(`typeof ${v.key}`) : { k: 'const', v: v.type };
    default:
      return sym(`typeof ${keyOf(v)}`);
  }
}

function prefix(ip: Interp, fr: Frame, op: SyntaxKind, operand: Node, s: State): Out {
  if (op === SyntaxKind.PlusPlusToken || op === SyntaxKind.MinusMinusToken)
    return assignTo(ip, fr, operand, sym(operand.getText(), 'number'), s);
  return evalExpr(ip, fr, operand, s).map(([t, v]): [State, Located] => {
    if (op === SyntaxKind.ExclamationToken) return [t, { k: 'cond', c: notCond(asCond(v)) }];
    if (op === SyntaxKind.MinusToken && v.k === 'const' && typeof v.v === 'number') return [t, { k: 'const', v: -v.v }];
    return [t, sym(`${SyntaxKind[op]} ${keyOf(v)}`, 'number')];
  });
}

/** Stores `value` into an assignment target: locals are tracked; a plain driver field (`plainField`) is recorded as written. */
function assignTo(ip: Interp, fr: Frame, target: Node, value: Value, s: State): Out {
  if (Node.isIdentifier(target)) {
    const slot = lookupSlot(fr.env, target.getText());
    if (slot !== undefined) s.vars.set(slot, value);
    return [[s, value]];
  }
  if (Node.isPropertyAccessExpression(target)) {
    const name = target.getName();
    return evalExpr(ip, fr, target.getExpression(), s).flatMap(([t, base]): Out => {
      // `this.count = v` through `set count(v)`: the setter's body is what runs.
      const setter = base.k === 'sym' && base.cls !== undefined ? findSetter(base.cls, name) : undefined;
      if (setter !== undefined) {
        const fn: FnValue = { k: 'fn', node: setter.node, env: null, thisValue: base, owner: setter.owner };
        return ip.call(fn, [value], t, target).map(([u]): [State, Located] => [u, value]);
      }
      const cls = base.k === 'sym' ? (base.cls ?? base.fcls) : undefined;
      const field = cls !== undefined ? plainField(cls, name) : undefined;
      if (field !== undefined) touchField(ip, t, target, field, true);
      return [[t, value]];
    });
  }
  if (Node.isElementAccessExpression(target)) {
    return evalExpr(ip, fr, target.getExpression(), s).map(([t, base]): [State, Located] => {
      if (base.k === 'sym' && base.field !== undefined) touchField(ip, t, target, base.field, true);
      return [t, value];
    });
  }
  return [[s, value]];
}

const ASSIGN_OPS = new Set([
  SyntaxKind.EqualsToken,
  SyntaxKind.PlusEqualsToken,
  SyntaxKind.MinusEqualsToken,
  SyntaxKind.AsteriskEqualsToken,
  SyntaxKind.BarEqualsToken,
  SyntaxKind.AmpersandEqualsToken,
  SyntaxKind.QuestionQuestionEqualsToken,
  SyntaxKind.BarBarEqualsToken,
  SyntaxKind.AmpersandAmpersandEqualsToken,
]);

function binary(ip: Interp, fr: Frame, e: Node & { getOperatorToken(): Node; getLeft(): Node; getRight(): Node }, s: State): Out {
  const op = e.getOperatorToken().getKind();
  if (ASSIGN_OPS.has(op)) {
    return evalExpr(ip, fr, e.getRight(), s).flatMap(([t, v]) =>
      assignTo(ip, fr, e.getLeft(), op === SyntaxKind.EqualsToken ? v : sym(e.getLeft().getText()), t),
    );
  }
  if (op === SyntaxKind.AmpersandAmpersandToken || op === SyntaxKind.BarBarToken) {
    const and = op === SyntaxKind.AmpersandAmpersandToken;
    return evalExpr(ip, fr, e.getLeft(), s).flatMap(([t, l]) =>
      decide(asCond(l), t, ip.budget, ip.where()).flatMap(
        ([u, v]): Out => (v === and ? evalExpr(ip, fr, e.getRight(), u) : [[u, v ? TRUE : FALSE]]),
      ),
    );
  }
  if (op === SyntaxKind.QuestionQuestionToken) {
    return evalExpr(ip, fr, e.getLeft(), s).flatMap(([t, l]): Out => {
      if (l.k === 'const' && l.v !== null && l.v !== undefined) return [[t, l]];
      if (l.k === 'const') return evalExpr(ip, fr, e.getRight(), t);
      return evalExpr(ip, fr, e.getRight(), t).map(([u, r]): [State, Located] => [
        u,
        l.k === 'sym' ? l : sym(`${keyOf(l)} ?? ${keyOf(r)}`),
      ]);
    });
  }
  if (op === SyntaxKind.CommaToken) return evalExpr(ip, fr, e.getLeft(), s).flatMap(([t]) => evalExpr(ip, fr, e.getRight(), t));
  return evalExpr(ip, fr, e.getLeft(), s).flatMap(([t, l]) =>
    evalExpr(ip, fr, e.getRight(), t).map(([u, r]): [State, Located] => [u, combine(op, l, r, e)]),
  );
}

function combine(op: SyntaxKind, l: Value, r: Value, node: Node): Value {
  switch (op) {
    case SyntaxKind.EqualsEqualsEqualsToken:
    case SyntaxKind.EqualsEqualsToken:
      return { k: 'cond', c: equals(l, r, node, op === SyntaxKind.EqualsEqualsToken) };
    case SyntaxKind.ExclamationEqualsEqualsToken:
    case SyntaxKind.ExclamationEqualsToken:
      return { k: 'cond', c: notCond(equals(l, r, node, op === SyntaxKind.ExclamationEqualsToken)) };
  }
  const text = node.getChildAtIndex(1).getText();
  // `range.flags & MMU_NOTIFIER_RANGE_BLOCKABLE` is mmu_notifier_range_blockable() spelled out.
  if (text === '&' && l.k === 'sym' && l.key === 'range.flags' && r.k === 'const' && r.v === 1) return { k: 'cond', c: { k: 'blockable' } };
  if (l.k === 'const' && r.k === 'const' && typeof l.v === 'number' && typeof r.v === 'number') {
    const f = ARITH[text];
    if (f !== undefined) return { k: 'const', v: f(l.v, r.v) };
  }
  if (['<', '>', '<=', '>=', 'instanceof', 'in'].includes(text))
    return { k: 'cond', c: { k: 'atom', key: `${keyOf(l)} ${text} ${keyOf(r)}` } };
  return sym(`${keyOf(l)} ${text} ${keyOf(r)}`, text === '+' ? undefined : 'number');
}

const ARITH: Readonly<Record<string, (a: number, b: number) => number | boolean>> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
  '|': (a, b) => a | b,
  '&': (a, b) => a & b,
  '<<': (a, b) => a << b,
  '>>': (a, b) => a >> b,
  '<': (a, b) => a < b,
  '>': (a, b) => a > b,
  '<=': (a, b) => a <= b,
  '>=': (a, b) => a >= b,
};

function isNullish(v: Value): boolean {
  return v.k === 'const' && (v.v === null || v.v === undefined);
}

/** `==` between constants: null and undefined are equal, numbers compare as numbers. */
function looseEquals(a: unknown, b: unknown): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (typeof a === 'number' || typeof b === 'number') return Number(a) === Number(b);
  return a === b;
}

/** `l === r` as a condition. */
function equals(l: Value, r: Value, node: Node, loose: boolean): Cond {
  if (r.k === 'event' || r.k === 'owner') return equals(r, l, node, loose);
  if (l.k === 'const' && r.k === 'const') return { k: 'const', v: loose ? looseEquals(l.v, r.v) : l.v === r.v };
  if (l.k === 'event') {
    if (r.k === 'const' && typeof r.v === 'number' && r.v >= 0 && r.v < 8) return { k: 'event', set: 1 << r.v, node };
    if (r.k === 'const') return { k: 'const', v: false };
    return { k: 'atom', key: `range.event === ${keyOf(r)}` };
  }
  if (l.k === 'owner') {
    const text = node.getText();
    return isNullish(r) ? { k: 'owner', node, text, match: false } : { k: 'owner', node, text, match: true };
  }
  if (l.k === 'cond' && r.k === 'const' && typeof r.v === 'boolean') return r.v ? l.c : notCond(l.c);
  if (l.k === 'cond' && r.k === 'const' && r.v === 0) return notCond(l.c);
  if (r.k === 'cond' && l.k === 'const' && typeof l.v === 'boolean') return l.v ? r.c : notCond(r.c);
  // A function or an object the path made is never null or undefined (`release === null` after
  // a helper returned its unlock function).
  if ((l.k === 'fn' || l.k === 'obj') && r.k === 'const') return { k: 'const', v: false };
  if ((r.k === 'fn' || r.k === 'obj') && l.k === 'const') return { k: 'const', v: false };
  if (l.k === 'sym' && l.type !== undefined && isNullish(r)) return { k: 'const', v: false };
  if (r.k === 'sym' && r.type !== undefined && isNullish(l)) return { k: 'const', v: false };
  if (l.k === 'const' && r.k === 'sym') return { k: 'atom', key: `${keyOf(r)} === ${keyOf(l)}` };
  return { k: 'atom', key: `${keyOf(l)} === ${keyOf(r)}` };
}

function objectLiteral(ip: Interp, fr: Frame, e: Node & { getProperties(): Node[] }, s: State): Out {
  let states: [State, Map<string, Value>][] = [[s, new Map()]];
  for (const p of e.getProperties()) {
    if (Node.isPropertyAssignment(p) || Node.isShorthandPropertyAssignment(p)) {
      const name = p.getName();
      const init = Node.isPropertyAssignment(p) ? p.getInitializer() : p.getNameNode();
      if (init === undefined) continue;
      states = states.flatMap(([t, props]) =>
        evalExpr(ip, fr, init, t).map(([u, v]): [State, Map<string, Value>] => [u, new Map(props).set(name, v)]),
      );
    } else if (Node.isMethodDeclaration(p)) {
      const fn: Value = { k: 'fn', node: p, env: fr.env, thisValue: fr.thisValue, owner: fr.owner };
      states = states.map(([t, props]) => [t, new Map(props).set(p.getName(), fn)]);
    } else if (Node.isSpreadAssignment(p)) {
      states = states.flatMap(([t, props]) =>
        evalExpr(ip, fr, p.getExpression(), t).map(([u, v]): [State, Map<string, Value>] => [
          u,
          v.k === 'obj' ? new Map([...props, ...v.props]) : props,
        ]),
      );
    }
  }
  return states.map(([t, props]) => [t, { k: 'obj', props }]);
}
