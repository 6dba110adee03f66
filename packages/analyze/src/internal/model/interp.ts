/**
 * The path interpreter: runs a function of the driver symbolically, forking at every test it
 * cannot decide, and inlining the driver's own functions and methods (with `this` bound to the
 * concrete driver class, so overrides are followed). Loops run their body at most once; a throw
 * ends its path.
 */
import { type ArrowFunction, type FunctionExpression, Node, type ParameterDeclaration } from 'ts-morph';
import { classNamed } from './calls.js';
import { evalExpr } from './eval-expr.js';
import { execBody } from './exec-stmt.js';
import type { ClassInfo, Program } from './program.js';
import type { Budget, Held, State } from './state.js';
import { argList, type Env, type FnValue, type Located, newEnv, rangeField, sym, UNDEF, type Value } from './values.js';

/** Where a function runs: its variables, `this`, and the class of the member (for `super`). */
export interface Frame {
  readonly env: Env;
  readonly thisValue: Value | null;
  readonly owner: ClassInfo | null;
  readonly id: number;
}

/** The state of one analysis run. */
export class Interp {
  readonly program: Program;
  readonly budget: Budget;
  /** Call sites from the entry to the current point, outermost first. */
  readonly stack: Node[] = [];
  private readonly running: Node[] = [];
  private frames = 0;
  steps = 0;
  readonly maxSteps: number;
  /** Paths ended by a `throw`. */
  readonly thrown: State[] = [];

  /** Functions whose bodies a call inlined (not the function the run starts from). */
  readonly called: Set<Node>;

  constructor(program: Program, options: { maxForks?: number; maxSteps?: number } = {}, called = new Set<Node>()) {
    this.program = program;
    this.called = called;
    this.budget = { forks: 0, maxForks: options.maxForks ?? 2000, truncated: false };
    this.maxSteps = options.maxSteps ?? 200_000;
  }

  /** A new frame id. */
  nextFrame(): number {
    return ++this.frames;
  }

  /** Counts one step; false (and the run marked truncated) once the budget is spent. */
  step(): boolean {
    if (++this.steps > this.maxSteps) {
      this.budget.truncated = true;
      return false;
    }
    return true;
  }

  /** The call sites, as recorded in an effect. */
  where(): Node[] {
    return [...this.stack];
  }

  /** The held locks, as recorded in an effect. */
  held(s: State): Held[] {
    return [...s.held];
  }

  /**
   * Calls `fn` with `args` on path `s`, inlining its body; `site` is the call expression.
   * Returns each path out of it with the value it returned.
   */
  call(fn: FnValue, args: readonly Value[], s: State, site: Node | null): [State, Located][] {
    if (this.running.includes(fn.node) || this.running.length > 16) return [[s, sym(`${fn.node.getKindName()} (recursive)`)]];
    const id = this.nextFrame();
    const frame: Frame = { env: newEnv(fn.env), thisValue: fn.thisValue, owner: fn.owner, id };
    if (site !== null) {
      this.stack.push(site);
      this.called.add(fn.node);
    }
    this.running.push(fn.node);
    try {
      const withParams = bindParams(this, frame, fn.node, args, s);
      const out: [State, Located][] = [];
      const body = bodyOf(fn.node);
      if (body === undefined) return withParams.map((t) => [t, UNDEF]);
      if (Node.isBlock(body)) {
        for (const t of execBody(this, frame, body.getStatements(), withParams)) {
          if (t.ctl === 'throw') {
            this.thrown.push(t);
            continue;
          }
          const v: Located = t.ctl === 'return' && t.ret !== undefined ? t.ret : UNDEF;
          t.ctl = 'normal';
          t.ret = undefined;
          t.label = undefined;
          out.push([t, v]);
        }
        return out;
      }
      for (const t of withParams) {
        for (const [u, v] of evalExpr(this, frame, body, t)) out.push([u, v.origin === undefined ? { ...v, origin: body } : v]);
      }
      return out;
    } finally {
      this.running.pop();
      if (site !== null) this.stack.pop();
    }
  }
}

/** The body of a function-like node. */
function bodyOf(n: Node): Node | undefined {
  if (Node.isArrowFunction(n) || Node.isFunctionExpression(n) || Node.isFunctionDeclaration(n) || Node.isMethodDeclaration(n)) {
    return n.getBody();
  }
  if (Node.isGetAccessorDeclaration(n) || Node.isSetAccessorDeclaration(n) || Node.isConstructorDeclaration(n)) return n.getBody();
  return undefined;
}

/** Parameters of a function-like node. */
function paramsOf(n: Node): Node[] {
  if (
    Node.isArrowFunction(n) ||
    Node.isFunctionExpression(n) ||
    Node.isFunctionDeclaration(n) ||
    Node.isMethodDeclaration(n) ||
    Node.isSetAccessorDeclaration(n) ||
    Node.isConstructorDeclaration(n)
  ) {
    return n.getParameters();
  }
  return [];
}

/** Declares `name` in `frame` and sets it on path `s`. */
function declare(frame: Frame, name: string, value: Value, s: State): void {
  const slot = `${frame.id}:${name}`;
  frame.env.vars.set(name, slot);
  s.vars.set(slot, value);
}

/** Binds a name or destructuring pattern to `value`. */
export function bindPattern(frame: Frame, pattern: Node, value: Value, s: State): void {
  if (Node.isIdentifier(pattern)) {
    declare(frame, pattern.getText(), value, s);
    return;
  }
  if (Node.isObjectBindingPattern(pattern)) {
    for (const el of pattern.getElements()) {
      const prop = el.getPropertyNameNode()?.getText() ?? el.getNameNode().getText();
      // `{ start, end, event }` of the kernel's range: its event and owner stay what they are.
      const v =
        value.k === 'obj'
          ? (value.props.get(prop) ?? UNDEF)
          : value.k === 'range'
            ? rangeField(prop, el)
            : sym(`${keyText(value)}.${prop}`);
      bindPattern(frame, el.getNameNode(), v, s);
    }
    return;
  }
  if (Node.isArrayBindingPattern(pattern)) {
    pattern.getElements().forEach((el, i) => {
      if (Node.isBindingElement(el)) bindPattern(frame, el.getNameNode(), sym(`${keyText(value)}[${i}]`), s);
    });
  }
}

function keyText(v: Value): string {
  return v.k === 'sym' ? v.key : v.k;
}

function bindParams(ip: Interp, frame: Frame, fn: Node, args: readonly Value[], s: State): State[] {
  let states = [s];
  paramsOf(fn).forEach((p, i) => {
    if (!Node.isParameterDeclaration(p)) return;
    const name = p.getNameNode();
    const arg = args[i];
    const init = p.getInitializer();
    const next: State[] = [];
    if (p.isRestParameter()) {
      // `(...a) => this.invalidate(...a)`: the arguments from here on, which a spread passes on.
      for (const t of states) bindPattern(frame, name, argList(args.slice(i)), t);
      return;
    }
    for (const t of states) {
      if ((arg === undefined || (arg.k === 'const' && arg.v === undefined)) && init !== undefined) {
        for (const [u, v] of evalExpr(ip, frame, init, t)) {
          bindPattern(frame, name, v, u);
          next.push(u);
        }
      } else {
        bindPattern(frame, name, typedArg(ip, p, arg) ?? (p.isRestParameter() ? sym('rest') : UNDEF), t);
        next.push(t);
      }
    }
    states = next;
  });
  return states;
}

/** `arg`, carrying the class its parameter's type names (`prange: SvmRange`) when it is a symbol of no known class. */
function typedArg(ip: Interp, p: ParameterDeclaration, arg: Value | undefined): Value | undefined {
  const type = p.getTypeNode();
  if (arg?.k !== 'sym' || arg.cls !== undefined || arg.fcls !== undefined || type === undefined) return arg;
  const fcls = classNamed(ip, type);
  return fcls === undefined ? arg : { ...arg, fcls };
}

/** A function value for an arrow or function expression evaluated in `frame`. */
export function closure(frame: Frame, node: ArrowFunction | FunctionExpression): FnValue {
  return { k: 'fn', node, env: frame.env, thisValue: Node.isArrowFunction(node) ? frame.thisValue : null, owner: frame.owner };
}
