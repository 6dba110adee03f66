/**
 * The kernel and harness API, by name, as the rules need it: locks taken and released (and
 * whether taking them sleeps), sleeping primitives, `mmuIntervalSetSeq` and
 * `mmuIntervalReadRetry`, the removals that wait for callbacks (`mmuIntervalNotifierRemove`,
 * `mmuNotifierUnregister`; `mmuNotifierPut` waits for nothing), blockability, device
 * invalidations and device programming.
 */
import {
  type CallExpression,
  type ClassDeclaration,
  Node,
  type ParameterDeclaration,
  SyntaxKind,
  type VariableDeclaration,
} from 'ts-morph';
import type { Interp } from './interp.js';
import type { ClassInfo, Program } from './program.js';
import { branches, type State } from './state.js';
import { FALSE, keyOf, type Located, sym, TRUE, UNDEF, type Value } from './values.js';

type Out = [State, Located][];

/** Methods that take a lock and may sleep for it (`mutex_lock`, `down_read`, `down_write`, `lock_page`). */
const LOCKS = new Set(['lock', 'lockInterruptible', 'lockKillable', 'downRead', 'downWrite', 'downReadKillable', 'downWriteKillable']);
/** Methods that try to take a lock without sleeping. */
const TRYLOCKS = new Set(['tryLock', 'downReadTrylock', 'downWriteTrylock']);
/** Methods that release a lock. */
const UNLOCKS = new Set(['unlock', 'upRead', 'upWrite']);
/** Methods that sleep (`wait_event`, `wait_for_completion`, `dma_fence_wait`, `msleep`, `flush_work`, `mmput`). */
const SLEEPS = new Set([
  'waitEvent',
  'waitEventTimeout',
  'waitForCompletion',
  'wait',
  'msleep',
  'sleep',
  'flush',
  'flushWork',
  'cancelSync',
  'mmput',
  'synchronize',
]);
/** Device invalidations: a PTE cleared or write-protected, a TLB flush, a quiesce, a DMA unmap. */
const FLUSH_OPS = new Set(['clearRange', 'clearPte', 'flushTlb', 'flushTlbAsync', 'writeProtectRange', 'quiesce', 'dmaUnmap']);
/** Pages marked dirty: `set_page_dirty`, and a device address space's writable entries at once. */
const DIRTY_OPS = new Set(['setPageDirty', 'dirtyWritable']);
/** Device programming. */
const PROGRAM_OPS = new Set(['setPte', 'dmaMap']);
/** Kernel functions that sleep. */
const SLEEPING_FUNCTIONS = new Set([
  'mmuIntervalReadBegin',
  'hmmRangeFault',
  'migrateVmaSetup',
  'migrateVmaPages',
  'makeDeviceExclusiveRange',
]);
/** Helpers whose function arguments run before they return (array iteration, promise chaining, harness loops). */
export const CALLBACK_RUNNERS = new Set([
  'forEach',
  'map',
  'flatMap',
  'filter',
  'some',
  'every',
  'find',
  'findIndex',
  'then',
  'finally',
  'catch',
]);

/** The last name of a receiver (`this.lock` → `lock`). */
function lockName(key: string): string {
  const parts = key.split('.');
  return parts[parts.length - 1] ?? key;
}

function acquire(ip: Interp, s: State, key: string, call: CallExpression, blocking: boolean): void {
  const stack = ip.where();
  if (blocking) s.effects.push({ t: 'sleep', what: `${key}.${lockOp(call)}()`, node: call, stack });
  s.held.push({ key, name: lockName(key), node: call, stack });
  s.effects.push({ t: 'acquire', lock: key, name: lockName(key), blocking, node: call, stack });
}

function lockOp(call: CallExpression): string {
  const e = call.getExpression();
  return 'getName' in e && typeof e.getName === 'function' ? String(e.getName()) : 'lock';
}

function release(ip: Interp, s: State, key: string, call: CallExpression): void {
  let i = s.held.map((h) => h.key).lastIndexOf(key);
  if (i < 0) i = s.held.map((h) => h.name).lastIndexOf(lockName(key));
  if (i >= 0) s.held.splice(i, 1);
  s.effects.push({ t: 'release', lock: key, name: lockName(key), node: call, stack: ip.where() });
}

function tryAcquire(ip: Interp, s: State, key: string, call: CallExpression): Out {
  return branches(s, ip.budget, (t, ok) => {
    if (ok) acquire(ip, t, key, call, false);
    t.decisions.push({ kind: 'trylock', text: `${key}.${lockOp(call)}()`, value: ok });
    return true;
  }).map(([t, ok]) => [t, ok ? TRUE : FALSE]);
}

/** Whether each declaration of a lock declares a `SpinLock`, by declaration. */
const spinLockDecls = new WeakMap<Node, boolean>();

/** Answers of {@link isSpinLock} by call: the analysis evaluates the same call on every path. */
const spinLockCalls = new WeakMap<CallExpression, boolean>();

/**
 * True if the receiver of `call` (`this.mmuLock.lock()`) is declared a `SpinLock`, by its type
 * (`lock: SpinLock`) or its initialiser (`= kernel.spinlock(...)`): its `lock()` never sleeps.
 */
function isSpinLock(program: Program, call: CallExpression): boolean {
  let v = spinLockCalls.get(call);
  if (v === undefined) {
    v = receiverIsSpinLock(program, call);
    spinLockCalls.set(call, v);
  }
  return v;
}

function receiverIsSpinLock(program: Program, call: CallExpression): boolean {
  const e = call.getExpression();
  if (!Node.isPropertyAccessExpression(e)) return false;
  const recv = e.getExpression();
  // The declaration found from the source where the lexical scope or a class names it; the type
  // checker otherwise (a field reached through a Map, an array, an interface), which costs a
  // TypeScript program of the sources and the ECMAScript library.
  const decl = declarationOf(program, recv) ?? checkerDeclaration(recv);
  if (decl === undefined) return false;
  let v = spinLockDecls.get(decl);
  if (v === undefined) {
    v = declaresSpinLock(decl);
    spinLockDecls.set(decl, v);
  }
  return v;
}

/** The type checker's declaration of `recv`: of what an import names, the exported declaration. */
export function checkerDeclaration(recv: Node): Node | undefined {
  const sym = recv.getSymbol();
  return (sym?.isAlias() === true ? sym.getAliasedSymbol() : sym)?.getDeclarations()[0];
}

/**
 * The declaration the type checker would find for `recv` ({@link checkerDeclaration}), when the
 * source alone says it: a local, parameter or top-level variable named by an identifier (an
 * imported one included), or a field of the class `this` is in or of a class a variable or
 * parameter is declared (declared in it or a base, or a parameter property). Undefined when it
 * takes types to say.
 */
export function declarationOf(program: Program, recv: Node): Node | undefined {
  if (Node.isIdentifier(recv)) return variableOf(program, recv);
  if (!Node.isPropertyAccessExpression(recv)) return undefined;
  const obj = recv.getExpression();
  if (obj.getKind() === SyntaxKind.ThisKeyword) {
    const member = thisMember(recv);
    if (member === undefined) return undefined;
    const isStatic = Node.isStaticable(member) && member.isStatic();
    return fieldOf(program.classInfo(member.getParentOrThrow() as ClassDeclaration), recv.getName(), isStatic);
  }
  // A variable or parameter declared a class of the program (`m: SvmMirror`, `= mni as SvmRange`,
  // `= new SvmRange(…)`).
  if (!Node.isIdentifier(obj)) return undefined;
  const v = variableOf(program, obj);
  if (v === undefined) return undefined;
  const cls = declaredClass(program, v);
  return cls === undefined ? undefined : fieldOf(cls, recv.getName(), false);
}

/** The class of the program a variable or parameter is declared, cast to or made as, if any. */
function declaredClass(program: Program, v: VariableDeclaration | ParameterDeclaration): ClassInfo | undefined {
  const type = v.getTypeNode();
  if (type !== undefined) return program.classNamed(type);
  const init = Node.isVariableDeclaration(v) ? v.getInitializer() : undefined;
  if (init !== undefined && Node.isAsExpression(init)) {
    const t = init.getTypeNode();
    return t === undefined ? undefined : program.classNamed(t);
  }
  if (init !== undefined && Node.isNewExpression(init) && Node.isIdentifier(init.getExpression())) {
    const b = program.lookup(init.getExpression().getText(), init);
    return b?.kind === 'class' ? b.info : undefined;
  }
  return undefined;
}

/** The variable or parameter declaration an identifier names, when its scope says. */
function variableOf(program: Program, id: Node): VariableDeclaration | ParameterDeclaration | undefined {
  const b = program.lookup(id.getText(), id);
  if (b === undefined || (b.kind !== 'outer' && b.kind !== 'variable')) return undefined;
  const n = b.node;
  // A name bound by a destructuring pattern is declared by its binding element, not the declaration.
  if ((Node.isVariableDeclaration(n) || Node.isParameterDeclaration(n)) && n.getNameNode().getText() === id.getText()) return n;
  return undefined;
}

/** The declaration of field `name` of `cls` or a base (a parameter property included); undefined when it takes more to say. */
function fieldOf(cls: ClassInfo, name: string, isStatic: boolean): Node | undefined {
  for (let c: ClassInfo | null = cls; c !== null; c = c.base) {
    const p = c.decl.getProperty(name);
    if (p !== undefined) return p.isStatic() === isStatic ? p : undefined;
    // An accessor or a method of that name is what the checker finds.
    if (c.decl.getGetAccessor(name) !== undefined || c.decl.getMethod(name) !== undefined) return undefined;
    if (isStatic) continue;
    for (const ctor of c.decl.getConstructors()) {
      const pp = ctor.getParameters().find((q) => q.isParameterProperty() && q.getName() === name);
      if (pp !== undefined) return pp;
    }
    // A base class the program cannot resolve (a package's) may declare it.
    if (c.base === null && c.decl.getExtends() !== undefined) return undefined;
  }
  return undefined;
}

/** The member of a class declaration whose code `node` is in, with `this` its instance (or class); undefined for any other `this`. */
function thisMember(node: Node): Node | undefined {
  for (let n = node.getParent(); n !== undefined; n = n.getParent()) {
    if (Node.isArrowFunction(n)) continue;
    if (
      Node.isMethodDeclaration(n) ||
      Node.isConstructorDeclaration(n) ||
      Node.isGetAccessorDeclaration(n) ||
      Node.isSetAccessorDeclaration(n) ||
      Node.isPropertyDeclaration(n)
    )
      return Node.isClassDeclaration(n.getParent()) ? n : undefined;
    if (Node.isFunctionLikeDeclaration(n) || Node.isFunctionExpression(n) || Node.isClassStaticBlockDeclaration(n) || Node.isSourceFile(n))
      return undefined;
  }
  return undefined;
}

function declaresSpinLock(d: Node): boolean {
  // A field of a class or of an interface (`readonly lock: SpinLock`), a variable or a parameter.
  if (Node.isPropertySignature(d)) return spinLockType(d.getTypeNode()?.getText() ?? '');
  if (!Node.isPropertyDeclaration(d) && !Node.isVariableDeclaration(d) && !Node.isParameterDeclaration(d)) return false;
  const type = d.getTypeNode()?.getText();
  if (type !== undefined) return spinLockType(type);
  return /\.spinlock\(/.test(d.getInitializer()?.getText() ?? '');
}

/** A type annotation naming `SpinLock`, maybe through a namespace import (`core.SpinLock`), maybe with `| null` or `| undefined` (a lock made at bind). */
function spinLockType(text: string): boolean {
  const parts = text
    .split('|')
    .map((t) => t.trim())
    .filter((t) => t !== 'null' && t !== 'undefined');
  return parts.length === 1 && /^(\w+\.)?SpinLock$/.test(parts[0] as string);
}

/** A method of the kernel or harness API, or undefined. */
export function builtinMethod(
  ip: Interp,
  name: string,
  recv: Value,
  args: readonly Value[],
  s: State,
  call: CallExpression,
): Out | undefined {
  const key = keyOf(recv);
  // Page locks are tracked only for the page makeDeviceExclusive hands over: pages a driver
  // locks itself (migration destinations) are unlocked by migrate_vma_finalize.
  if (name === 'lockPage') {
    s.effects.push({ t: 'sleep', what: `${key}.lockPage()`, node: call, stack: ip.where() });
    return [[s, UNDEF]];
  }
  if (name === 'trylockPage') return [[s, sym(`${key}.trylockPage()`)]];
  if (name === 'unlockPage') {
    if (s.held.some((h) => h.key === 'page lock')) release(ip, s, 'page lock', call);
    return [[s, UNDEF]];
  }
  if (LOCKS.has(name)) {
    acquire(ip, s, key, call, !(name === 'lock' && isSpinLock(ip.program, call)));
    return [[s, UNDEF]];
  }
  if (TRYLOCKS.has(name)) return tryAcquire(ip, s, key, call);
  if (UNLOCKS.has(name)) {
    release(ip, s, key, call);
    return [[s, UNDEF]];
  }
  if (SLEEPS.has(name)) {
    s.effects.push({ t: 'sleep', what: `${key}.${name}()`, node: call, stack: ip.where() });
    return [[s, sym(`${key}.${name}()`)]];
  }
  if (FLUSH_OPS.has(name)) {
    s.effects.push({ t: 'flush', op: name, target: key, node: call, stack: ip.where() });
    return [[s, sym(`${key}.${name}()`, name === 'flushTlbAsync' ? 'object' : 'number')]];
  }
  if (DIRTY_OPS.has(name)) {
    s.effects.push({ t: 'dirty', op: name, node: call, stack: ip.where() });
    return [[s, sym(`${key}.${name}()`, 'number')]];
  }
  if (PROGRAM_OPS.has(name)) {
    s.effects.push({ t: 'program', op: name, held: ip.held(s), node: call, stack: ip.where() });
    return [[s, UNDEF]];
  }
  if (name === 'yieldPoint') return [[s, UNDEF]];
  return builtinFunction(ip, name, args, s, call);
}

/** A function of the kernel or harness API (by its exported name), or undefined. */
export function builtinFunction(ip: Interp, name: string, args: readonly Value[], s: State, call: CallExpression): Out | undefined {
  const stack = ip.where();
  switch (name) {
    case 'mmuIntervalSetSeq':
      s.effects.push({ t: 'set-seq', held: ip.held(s), node: call, stack });
      return [[s, UNDEF]];
    case 'mmuIntervalReadRetry':
      s.effects.push({ t: 'read-retry', held: ip.held(s), node: call, stack });
      return [[s, { k: 'cond', c: { k: 'atom', key: `mmuIntervalReadRetry@${call.getStartLineNumber()}` } }]];
    case 'mmuIntervalCheckRetry':
      return [[s, { k: 'cond', c: { k: 'atom', key: `mmuIntervalCheckRetry@${call.getStartLineNumber()}` } }]];
    case 'mmuIntervalNotifierRemove':
    case 'mmuNotifierUnregister':
      s.effects.push({ t: 'unregister', fn: name, held: ip.held(s), node: call, stack });
      return [[s, UNDEF]];
    case 'mmuNotifierRangeBlockable':
      return [[s, args[0]?.k === 'range' ? { k: 'cond', c: { k: 'blockable' } } : sym('blockable')]];
    case 'hmmRangeFaultLoop':
      return faultLoop(ip, args[0], s, call);
    case 'makeDeviceExclusive':
      s.effects.push({ t: 'sleep', what: 'makeDeviceExclusive()', node: call, stack });
      return branches(s, ip.budget, (t, ok) => {
        if (ok) acquire(ip, t, 'page lock', call, false);
        t.decisions.push({ kind: 'state', text: 'makeDeviceExclusive() returned a page', value: ok });
        return true;
      }).map(([t, ok]) => [t, ok ? sym('exclusive page', 'object') : sym('errno', 'number')]);
    case 'forEachVmaChunk':
      s.effects.push({ t: 'sleep', what: 'forEachVmaChunk()', node: call, stack });
      return callEach(ip, args, s, call, sym('forEachVmaChunk()', 'number'));
    case 'yieldPoint':
      return [[s, UNDEF]];
  }
  if (SLEEPING_FUNCTIONS.has(name)) {
    s.effects.push({ t: 'sleep', what: `${name}()`, node: call, stack });
    return [[s, sym(`${name}()`, 'number')]];
  }
  return undefined;
}

function callEach(ip: Interp, args: readonly Value[], s: State, call: CallExpression, result: Value): Out {
  let out: Out = [[s, UNDEF]];
  for (const a of args) {
    if (a.k !== 'fn') continue;
    out = out.flatMap(([t]) => ip.call(a, [sym('vma'), sym('addr', 'number'), sym('next', 'number')], t, call));
  }
  return out.map(([t]) => [t, result]);
}

/**
 * `hmmRangeFaultLoop` (harness): read_begin, `hmm_range_fault`, `args.lock()`, read_retry,
 * `args.commit(range)` while the seq holds, `args.unlock()`. One successful round is modelled.
 */
function faultLoop(ip: Interp, arg: Value | undefined, s: State, call: CallExpression): Out {
  s.effects.push({ t: 'sleep', what: 'mmuIntervalReadBegin()', node: call, stack: ip.where() });
  if (arg?.k !== 'obj') return [[s, sym('hmmRangeFaultLoop()', 'number')]];
  const fn = (n: string) => {
    const f = arg.props.get(n);
    return f?.k === 'fn' ? f : undefined;
  };
  let out: Out = [[s, UNDEF]];
  const lock = fn('lock');
  if (lock !== undefined) out = out.flatMap(([t]) => ip.call(lock, [], t, call));
  out = out.map(([t, v]) => {
    t.effects.push({ t: 'read-retry', held: ip.held(t), node: call, stack: ip.where() });
    return [t, v];
  });
  const commit = fn('commit');
  if (commit !== undefined) out = out.flatMap(([t]) => ip.call(commit, [arg.props.get('range') ?? sym('range')], t, call));
  const unlock = fn('unlock');
  if (unlock !== undefined) out = out.flatMap(([t]) => ip.call(unlock, [], t, call));
  return out.map(([t]) => [t, sym('hmmRangeFaultLoop()', 'number')]);
}
