/**
 * Calls and property reads: the driver's own functions, methods and getters are inlined (methods
 * resolved on the concrete class of `this`, `super` on the base of the running member); the
 * kernel and harness API is interpreted by name (builtins.ts); anything else is a symbol.
 */
import { type CallExpression, type NewExpression, Node, SyntaxKind } from 'ts-morph';
import { builtinFunction, builtinMethod, CALLBACK_RUNNERS } from './builtins.js';
import { evalExpr } from './eval-expr.js';
import type { Frame, Interp } from './interp.js';
import { type ClassInfo, findMember, perClassAndName } from './program.js';
import type { State } from './state.js';
import { type FnValue, keyOf, type Located, rangeField, spreadOf, sym, UNDEF, type Value } from './values.js';

type Out = [State, Located][];

/** Reads `v.name` on path `s`. */
export function property(ip: Interp, v: Value, name: string, s: State, at: Node): Out {
  if (v.k === 'range') return [[s, rangeField(name, at)]];
  if (v.k === 'obj') return [[s, v.props.get(name) ?? UNDEF]];
  if (v.k === 'sym' && v.cls !== undefined) {
    const m = findMember(v.cls, name);
    if (m !== undefined) {
      const fn: FnValue = { k: 'fn', node: m.node, env: null, thisValue: v, owner: m.owner };
      return m.getter ? ip.call(fn, [], s, at) : [[s, fn]];
    }
    return [[s, fieldValue(ip, s, at, v.cls, v.key, name)]];
  }
  if (v.k === 'sym' && v.fcls !== undefined) return [[s, fieldValue(ip, s, at, v.fcls, v.key, name)]];
  return [[s, sym(`${keyOf(v)}.${name}`)]];
}

/**
 * The value of field `name` of an object of class `cls` (its text `key`): a plain field's read is
 * recorded, and a field whose declared type names a class of the program carries that class, to
 * key the fields read through it in turn.
 */
function fieldValue(ip: Interp, s: State, at: Node, cls: ClassInfo, key: string, name: string): Value {
  const field = plainField(cls, name);
  const type = declaredType(cls, name);
  const fcls = fieldClass(ip, cls, name);
  if (field !== undefined) touchField(ip, s, at, field, false);
  if (field === undefined && fcls === undefined) return givenValue(ip, cls, name) ?? sym(`${key}.${name}`, type);
  return {
    k: 'sym',
    key: `${key}.${name}`,
    ...(field === undefined ? {} : { field }),
    ...(type === undefined ? {} : { type }),
    ...(fcls === undefined ? {} : { fcls }),
  };
}

/**
 * What field `name` of `cls` holds when the program gives it one value: an ops table or a callback
 * the driver hands to a class of its own (`new DrmGpusvm(dev, mm, owner, { invalidate: (n, r) =>
 * this.invalidate(n, r) })`, kept as `readonly ops: DrmGpusvmOps`). The class's constructor sets
 * the field from one of its parameters, and the program makes objects of the class at one place,
 * passing an object literal or a function there: its functions are then the driver's (an arrow's
 * `this` is the object of the class whose code made it), and a call through the table
 * (`gpusvm->ops->invalidate` in drm_gpusvm) is followed as a method call is. Undefined otherwise.
 */
function givenValue(ip: Interp, cls: ClassInfo, name: string): Value | undefined {
  return perClassAndName(givenValues, cls, name, (c, n) => readGivenValue(ip, c, n));
}

const givenValues = new WeakMap<ClassInfo, Map<string, Value | undefined>>();

function readGivenValue(ip: Interp, cls: ClassInfo, name: string): Value | undefined {
  const ctor = cls.decl.getConstructors().find((c) => c.getBody() !== undefined);
  if (ctor === undefined) return undefined;
  const params = ctor.getParameters();
  let index = params.findIndex((p) => p.isParameterProperty() && p.getName() === name);
  if (index < 0) {
    for (const a of ctor.getDescendantsOfKind(SyntaxKind.BinaryExpression)) {
      const l = a.getLeft();
      const r = a.getRight();
      if (a.getOperatorToken().getKind() !== SyntaxKind.EqualsToken || !Node.isPropertyAccessExpression(l) || !Node.isIdentifier(r))
        continue;
      if (l.getExpression().getKind() !== SyntaxKind.ThisKeyword || l.getName() !== name) continue;
      index = params.findIndex((p) => p.getName() === r.getText());
      break;
    }
  }
  if (index < 0) return undefined;
  const given: Node[] = [];
  for (const f of ip.program.project.getSourceFiles()) {
    for (const e of f.getDescendantsOfKind(SyntaxKind.NewExpression)) {
      const callee = e.getExpression();
      if (!Node.isIdentifier(callee) || callee.getText() !== cls.name) continue;
      const b = ip.program.lookup(callee.getText(), callee);
      if (b?.kind !== 'class' || b.info !== cls) continue;
      const arg = e.getArguments()[index];
      if (arg === undefined) return undefined;
      given.push(arg);
    }
  }
  const only = given.length === 1 ? given[0] : undefined;
  if (only === undefined) return undefined;
  if (Node.isArrowFunction(only) || Node.isFunctionExpression(only)) return madeAt(ip, only, only);
  if (!Node.isObjectLiteralExpression(only)) return undefined;
  const props = new Map<string, Value>();
  for (const p of only.getProperties()) {
    if (Node.isPropertyAssignment(p)) {
      const init = p.getInitializer();
      if (init !== undefined && (Node.isArrowFunction(init) || Node.isFunctionExpression(init)))
        props.set(p.getName(), madeAt(ip, init, only));
    } else if (Node.isMethodDeclaration(p)) props.set(p.getName(), { k: 'fn', node: p, env: null, thisValue: null, owner: null });
  }
  return props.size === 0 ? undefined : { k: 'obj', props };
}

/** A function of the driver written at `site`: an arrow's `this` is the object of the class whose code holds it. */
function madeAt(ip: Interp, fn: Node, site: Node): FnValue {
  const decl = site.getFirstAncestorByKind(SyntaxKind.ClassDeclaration);
  const owner = decl === undefined ? null : ip.program.classInfo(decl);
  const thisValue: Value | null = Node.isArrowFunction(fn) && owner !== null ? { k: 'sym', key: 'this', cls: owner } : null;
  return { k: 'fn', node: fn, env: null, thisValue, owner };
}

/** The class of the program that field `name` of `cls` is declared as (`readonly p: KfdProcess`), or undefined. */
function fieldClass(ip: Interp, cls: ClassInfo, name: string): ClassInfo | undefined {
  return perClassAndName(fieldClasses, cls, name, (c, n) => readFieldClass(ip, c, n));
}

/** Answers of {@link fieldClass} by class and field (a class belongs to one program). */
const fieldClasses = new WeakMap<ClassInfo, Map<string, ClassInfo | undefined>>();

function readFieldClass(ip: Interp, cls: ClassInfo, name: string): ClassInfo | undefined {
  for (let c: ClassInfo | null = cls; c !== null; c = c.base) {
    const p = c.decl.getProperty(name);
    if (p === undefined) continue;
    const t = p.getTypeNode();
    return t === undefined ? undefined : classNamed(ip, t);
  }
  return undefined;
}

/** The class of the program a type annotation names (`Foo`, `Foo | null`, `Foo | undefined`), or undefined. */
export function classNamed(ip: Interp, type: Node): ClassInfo | undefined {
  return ip.program.classNamed(type);
}

/** Records that the path read or wrote the plain driver field `field` (`Class.field`) at `at`. */
export function touchField(ip: Interp, s: State, at: Node, field: string, write: boolean): void {
  // A constructor runs before the object is shared: nothing it does can race.
  if (inConstructor(at)) return;
  s.effects.push({ t: 'field', field, write, held: [...s.held], node: at, stack: ip.where() });
}

/** Whether `n` is inside a constructor, by node (ts-morph keeps one wrapper per node). */
function inConstructor(n: Node): boolean {
  let known = constructorNodes.get(n);
  if (known === undefined) {
    known = n.getFirstAncestorByKind(SyntaxKind.Constructor) !== undefined;
    constructorNodes.set(n, known);
  }
  return known;
}

const constructorNodes = new WeakMap<Node, boolean>();

/** Methods that change the array, `Map` or `Set` they are called on. */
const MUTATORS: ReadonlySet<string> = new Set([
  'set',
  'delete',
  'add',
  'clear',
  'push',
  'pop',
  'shift',
  'unshift',
  'splice',
  'sort',
  'reverse',
  'fill',
  'copyWithin',
]);

/**
 * `Class.field` when `name` is a field of `cls` (or a base class) that holds plain state: a
 * number, flag, string, array, `Map` or `Set` (optionally with `null` or `undefined`), by its
 * declared type or, without one, by its initialiser. A `readonly` field of a primitive type never
 * changes and is not state. Fields of other types (locks, `SharedCell`, device address spaces,
 * objects of the driver) are not: their own methods say what they do.
 */
export function plainField(cls: ClassInfo, name: string): string | undefined {
  return perClassAndName(plainFields, cls, name, readPlainField);
}

const plainFields = new WeakMap<ClassInfo, Map<string, string | undefined>>();

const PRIMITIVE = /^(number|boolean|string|bigint)$/;
const CONTAINER = /^(Map|Set|Array)<.*>$|\[\]$/;

function readPlainField(cls: ClassInfo, name: string): string | undefined {
  for (let c: ClassInfo | null = cls; c !== null; c = c.base) {
    const p = c.decl.getProperty(name);
    if (p === undefined || p.isStatic()) continue;
    const typeText = p.getTypeNode()?.getText();
    let kind: 'primitive' | 'container' | undefined;
    if (typeText !== undefined) {
      const parts = typeText
        .split('|')
        .map((t) => t.trim())
        .filter((t) => t !== 'null' && t !== 'undefined');
      if (parts.length > 0 && parts.every((t) => PRIMITIVE.test(t))) kind = 'primitive';
      else if (parts.length === 1 && CONTAINER.test(parts[0] as string)) kind = 'container';
    } else {
      const init = p.getInitializer();
      if (init === undefined) return undefined;
      if (
        Node.isNumericLiteral(init) ||
        Node.isStringLiteral(init) ||
        init.getKind() === SyntaxKind.TrueKeyword ||
        init.getKind() === SyntaxKind.FalseKeyword
      )
        kind = 'primitive';
      else if (
        Node.isArrayLiteralExpression(init) ||
        (Node.isNewExpression(init) && /^(Map|Set|Array)$/.test(init.getExpression().getText()))
      )
        kind = 'container';
    }
    if (kind === undefined || (kind === 'primitive' && p.isReadonly())) return undefined;
    return `${c.name}.${name}`;
  }
  return undefined;
}

/**
 * What `typeof` a field of a class is, when its declaration says it cannot be null or undefined
 * (strict null checks guarantee it): 'object', 'number', 'string' or 'boolean'; else undefined.
 */
function declaredType(cls: ClassInfo, name: string): string | undefined {
  return perClassAndName(declaredTypes, cls, name, readDeclaredType);
}

/** Answers of {@link declaredType} by class and field. */
const declaredTypes = new WeakMap<ClassInfo, Map<string, string | undefined>>();

function readDeclaredType(cls: ClassInfo, name: string): string | undefined {
  for (let c: ClassInfo | null = cls; c !== null; c = c.base) {
    const p = c.decl.getProperty(name);
    if (p === undefined) continue;
    const t = p.getTypeNode()?.getText();
    if (t === undefined || p.hasQuestionToken() || /\b(null|undefined|unknown|any|void)\b/.test(t)) return undefined;
    if (t === 'number' || t === 'string' || t === 'boolean') return t;
    return /^[A-Z][\w.]*(<.*>)?$/.test(t) ? 'object' : undefined;
  }
  return undefined;
}

/** Evaluates the arguments of a call left to right. */
function evalArgs(ip: Interp, fr: Frame, args: readonly Node[], s: State): [State, Value[]][] {
  let out: [State, Value[]][] = [[s, []]];
  for (const a of args) {
    const spread = Node.isSpreadElement(a);
    const e = spread ? a.getExpression() : a;
    out = out.flatMap(([t, vs]) =>
      evalExpr(ip, fr, e, t).map(([u, v]): [State, Value[]] => [u, [...vs, ...((spread ? spreadOf(v) : undefined) ?? [v])]]),
    );
  }
  return out;
}

/** Evaluates a call. */
export function evalCall(ip: Interp, fr: Frame, call: CallExpression, s: State): Out {
  const callee = call.getExpression();
  const args = call.getArguments();
  if (Node.isPropertyAccessExpression(callee)) {
    const name = callee.getName();
    const obj = callee.getExpression();
    if (obj.getKind() === SyntaxKind.SuperKeyword) {
      const m = findMember(fr.owner?.base ?? null, name);
      if (m === undefined) return evalArgs(ip, fr, args, s).map(([t]): [State, Located] => [t, sym(`super.${name}()`)]);
      const fn: FnValue = { k: 'fn', node: m.node, env: null, thisValue: fr.thisValue, owner: m.owner };
      return evalArgs(ip, fr, args, s).flatMap(([t, vs]) => ip.call(fn, vs, t, call));
    }
    if (Node.isIdentifier(obj) && obj.getText() === 'Promise' && (name === 'resolve' || name === 'reject')) {
      return evalArgs(ip, fr, args, s).map(([t, vs]): [State, Located] => [t, vs[0] ?? UNDEF]);
    }
    // `SKIPPED.includes(range.event)`, `[A, B].includes(event)`, `SET.has(range.event)` over a
    // list of event constants: a test of the event, as `===` against each would be.
    const arg = args[0];
    if ((name === 'includes' || name === 'has') && args.length === 1 && arg !== undefined && /^[\w.]+$/.test(arg.getText())) {
      const set = eventList(ip, fr, obj, s);
      if (set !== undefined) {
        const tested = evalExpr(ip, fr, arg, s);
        if (tested.every(([, v]) => v.k === 'event'))
          return tested.map(([t]): [State, Located] => [t, { k: 'cond', c: { k: 'event', set, node: call } }]);
      }
    }
    return evalExpr(ip, fr, obj, s).flatMap(([t, recv]): Out => {
      const cls = recv.k === 'sym' ? (recv.cls ?? leafClass(ip, recv.fcls)) : undefined;
      if (recv.k === 'sym' && cls !== undefined) {
        const m = findMember(cls, name);
        if (m !== undefined && !m.getter) {
          const fn: FnValue = { k: 'fn', node: m.node, env: null, thisValue: recv, owner: m.owner };
          return evalArgs(ip, fr, args, t).flatMap(([u, vs]) => ip.call(fn, vs, u, call));
        }
      }
      if (recv.k === 'obj') {
        const f = recv.props.get(name);
        if (f?.k === 'fn') return evalArgs(ip, fr, args, t).flatMap(([u, vs]) => ip.call(f, vs, u, call));
      }
      return evalArgs(ip, fr, args, t).flatMap(([u, vs]): Out => {
        if (recv.k === 'sym' && recv.field !== undefined && MUTATORS.has(name)) touchField(ip, u, call, recv.field, true);
        const b = builtinMethod(ip, name, recv, vs, u, call);
        if (b !== undefined) return b;
        if (CALLBACK_RUNNERS.has(name)) return runCallbacks(ip, vs, u, call, recv);
        return [[u, sym(`${keyOf(recv)}.${name}(${vs.map(keyOf).join(', ')})`)]];
      });
    });
  }
  if (Node.isIdentifier(callee)) {
    const name = callee.getText();
    return evalExpr(ip, fr, callee, s).flatMap(([t, f]) =>
      evalArgs(ip, fr, args, t).flatMap(([u, vs]): Out => {
        if (f.k === 'fn') return ip.call(f, vs, u, call);
        const binding = ip.program.lookup(name, callee);
        const b = builtinFunction(ip, binding?.kind === 'package' ? binding.name : name, vs, u, call);
        if (b !== undefined) return b;
        return [[u, sym(`${name}(${vs.map(keyOf).join(', ')})`)]];
      }),
    );
  }
  return evalExpr(ip, fr, callee, s).flatMap(([t, f]) =>
    evalArgs(ip, fr, args, t).flatMap(([u, vs]): Out => (f.k === 'fn' ? ip.call(f, vs, u, call) : [[u, sym(`${call.getText()}`)]])),
  );
}

/**
 * `cls` when no class of the program extends it: an object whose declared type it is (a field
 * `readonly m: Mirror`, a parameter, a cast) is then of that class, and its methods are the ones
 * called. Undefined for a class with subclasses, whose overrides the declared type does not tell.
 */
function leafClass(ip: Interp, cls: ClassInfo | undefined): ClassInfo | undefined {
  if (cls === undefined) return undefined;
  let leaf = leaves.get(cls);
  if (leaf === undefined) {
    leaf = !ip.program.project.getSourceFiles().some((f) => f.getClasses().some((c) => ip.program.classInfo(c).base === cls));
    leaves.set(cls, leaf);
  }
  return leaf ? cls : undefined;
}

const leaves = new WeakMap<ClassInfo, boolean>();

/**
 * The events a list names, as a mask (bit `1 << event`): an array literal or `new Set([...])` of
 * event constants, written there or as the initializer of a `const`. Undefined for anything else.
 */
function eventList(ip: Interp, fr: Frame, list: Node, s: State): number | undefined {
  let e: Node | undefined = list;
  for (let depth = 0; e !== undefined && depth < 4; depth++) {
    if (Node.isAsExpression(e) || Node.isParenthesizedExpression(e) || Node.isSatisfiesExpression(e)) e = e.getExpression();
    else if (Node.isIdentifier(e)) {
      const b = ip.program.lookup(e.getText(), e);
      if (
        b?.kind !== 'variable' ||
        !Node.isVariableDeclarationList(b.node.getParent()) ||
        (b.node.getParent() as Node & { getDeclarationKind(): string }).getDeclarationKind() !== 'const'
      )
        return undefined;
      e = b.node.getInitializer();
    } else if (Node.isNewExpression(e) && e.getExpression().getText() === 'Set') e = e.getArguments()[0];
    else break;
  }
  if (e === undefined || !Node.isArrayLiteralExpression(e)) return undefined;
  let mask = 0;
  for (const el of e.getElements()) {
    const vs = evalExpr(ip, fr, el, s);
    const v = vs.length === 1 ? vs[0]?.[1] : undefined;
    if (v?.k !== 'const' || typeof v.v !== 'number' || v.v < 0 || v.v >= 8) return undefined;
    mask |= 1 << v.v;
  }
  return mask;
}

/** Array and promise helpers that call their function arguments now: each is called once. */
function runCallbacks(ip: Interp, args: readonly Value[], s: State, call: CallExpression, recv: Value): Out {
  let out: Out = [[s, UNDEF]];
  for (const a of args) {
    if (a.k !== 'fn') continue;
    out = out.flatMap(([t]) => ip.call(a, [sym('element'), sym('index')], t, call));
  }
  return out.map(([t]) => [t, recv.k === 'sym' ? recv : sym('result')]);
}

/** `new C(...)`: arguments evaluated, constructor not run; the value knows its class. */
export function evalNew(ip: Interp, fr: Frame, e: NewExpression, s: State): Out {
  const callee = e.getExpression();
  const b = Node.isIdentifier(callee) ? ip.program.lookup(callee.getText(), callee) : undefined;
  const cls = b?.kind === 'class' ? b.info : undefined;
  return evalArgs(ip, fr, e.getArguments(), s).map(([t]) => [t, { k: 'sym', key: `new ${callee.getText()}`, cls, type: 'object' }]);
}
