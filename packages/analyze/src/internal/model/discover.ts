/**
 * What to analyze in the files a user names: the driver classes they define or use, the notifier
 * callbacks those classes (or their bases) register, the driver's entry points (binding methods,
 * device fault handlers, work items) and every function declared in the files.
 */
import { type CallExpression, type ClassDeclaration, Node, type PropertyAccessExpression, type SourceFile, SyntaxKind } from 'ts-morph';
import { type ClassInfo, findMember, type Program } from './program.js';
import type { FnValue } from './values.js';

/** The kinds of callback the kernel calls. */
export type CallbackKind = 'interval' | 'start' | 'end' | 'release';

/** A callback registered with the kernel, with `this` bound to the driver class. */
export interface Callback {
  readonly kind: CallbackKind;
  /** `Class.member` or the function's name, for reports. */
  readonly name: string;
  readonly fn: FnValue;
  /** The registration (`mmuIntervalNotifierInsert(...)`, `new MmuNotifier(...)`). */
  readonly site: Node;
}

/** A function the analysis runs from its start (an entry point, or any function of a linted file). */
export interface Entry {
  readonly name: string;
  readonly fn: FnValue;
  /** Driver entry points (callbacks aside) must not return holding a lock they took. */
  readonly driverEntry: boolean;
}

const OPS_KINDS: Readonly<Record<string, CallbackKind>> = {
  invalidate: 'interval',
  invalidateRangeStart: 'start',
  invalidateRangeEnd: 'end',
  release: 'release',
};

/** Binding methods the harness calls (`Binding` in @hmmlab/harness). */
const BINDING_METHODS = ['migrateToDevice', 'migrateToRam', 'evict', 'makeExclusive', 'prefetch', 'unbind'];

function thisOf(cls: ClassInfo | null): FnValue['thisValue'] {
  return cls === null ? null : { k: 'sym', key: 'this', cls };
}

function calleeName(call: CallExpression): string {
  const e = call.getExpression();
  return Node.isPropertyAccessExpression(e) ? e.getName() : e.getText();
}

/** The function a property of an ops literal stands for. */
function opFunction(program: Program, p: Node, cls: ClassInfo | null, owner: ClassInfo | null): FnValue | undefined {
  let init: Node | undefined;
  if (Node.isMethodDeclaration(p)) init = p;
  else if (Node.isPropertyAssignment(p)) init = p.getInitializer();
  if (init === undefined) return undefined;
  if (Node.isArrowFunction(init) || Node.isFunctionExpression(init) || Node.isMethodDeclaration(init)) {
    return { k: 'fn', node: init, env: null, thisValue: thisOf(cls), owner };
  }
  // `{ invalidate: drmGpusvmNotifierInvalidate }`: a function declared in the files.
  if (Node.isIdentifier(init)) {
    const b = program.lookup(init.getText(), init);
    if (b?.kind === 'function') return { k: 'fn', node: b.node, env: null, thisValue: null, owner: null };
  }
  // `this.invalidate.bind(this)`
  if (
    Node.isCallExpression(init) &&
    Node.isPropertyAccessExpression(init.getExpression()) &&
    init.getExpression().getText().endsWith('.bind')
  ) {
    init = (init.getExpression() as PropertyAccessExpression).getExpression();
  }
  if (Node.isPropertyAccessExpression(init) && init.getExpression().getKind() === SyntaxKind.ThisKeyword && cls !== null) {
    const m = findMember(cls, init.getName());
    if (m !== undefined) return { k: 'fn', node: m.node, env: null, thisValue: thisOf(cls), owner: m.owner };
  }
  return undefined;
}

function declaredName(init: Node): string {
  const p = init.getParent();
  return p !== undefined && Node.isVariableDeclaration(p) ? p.getName() : 'ops';
}

function propName(p: Node): string | undefined {
  return Node.isPropertyAssignment(p) || Node.isMethodDeclaration(p) || Node.isShorthandPropertyAssignment(p) ? p.getName() : undefined;
}

/**
 * Whether code at `n`, in a method of the base class `owner`, runs for an object of class `cls`:
 * not when `cls` overrides that method without calling `super.<method>()` in the override (a
 * driver that registers its own classic notifier in its `open` never registers the interval
 * notifier of its base class's `open`).
 */
function runsFor(cls: ClassInfo | null, owner: ClassInfo | null, n: Node): boolean {
  if (cls === null || owner === null || cls === owner) return true;
  const method = n.getFirstAncestorByKind(SyntaxKind.MethodDeclaration);
  if (method === undefined) return true;
  const name = method.getName();
  const m = findMember(cls, name);
  if (m === undefined || m.owner === owner) return true;
  return m.node.getText().includes(`super.${name}(`);
}

/** Callbacks and fault handlers registered inside `scope`, with `this` bound to `cls`. */
function registrations(
  program: Program,
  scope: Node,
  cls: ClassInfo | null,
  owner: ClassInfo | null,
  label: string,
): { callbacks: Callback[]; entries: Entry[] } {
  const callbacks: Callback[] = [];
  const entries: Entry[] = [];
  /** An ops object declared elsewhere (`const ops: MmuIntervalNotifierOps = { ... }`): its `this` is not the driver's. */
  const declaredOps = (init: Node, site: Node) => {
    if (!Node.isObjectLiteralExpression(init)) return;
    for (const p of init.getProperties()) {
      const name = propName(p);
      const kind = name === undefined ? undefined : OPS_KINDS[name];
      const fn = opFunction(program, p, null, null);
      if (kind !== undefined && fn !== undefined) callbacks.push({ kind, name: `${declaredName(init)}.${name}`, fn, site });
    }
  };
  const visit = (ops: Node | undefined, site: Node, kinds: 'notifier' | 'vm' | 'work'): void => {
    if (ops === undefined) return;
    // The driver object itself as the ops (`mmuIntervalNotifierInsert(mni, mm, s, l, this)`): its
    // methods of the callbacks' names are the callbacks.
    if (ops.getKind() === SyntaxKind.ThisKeyword && kinds === 'notifier' && cls !== null) {
      for (const name of Object.keys(OPS_KINDS)) {
        const m = findMember(cls, name);
        const kind = OPS_KINDS[name];
        if (m === undefined || m.getter || kind === undefined) continue;
        callbacks.push({
          kind,
          name: `${label}.${name}`,
          fn: { k: 'fn', node: m.node, env: null, thisValue: thisOf(cls), owner: m.owner },
          site,
        });
      }
      return;
    }
    if (kinds === 'notifier' && (Node.isCallExpression(ops) || Node.isNewExpression(ops))) {
      const callee = ops.getExpression();
      const b = Node.isIdentifier(callee) ? program.lookup(callee.getText(), callee) : undefined;
      // An object of a class of the driver whose methods are the callbacks (`new MirrorOps(this)`).
      if (Node.isNewExpression(ops) && b?.kind === 'class') {
        for (const name of Object.keys(OPS_KINDS)) {
          const m = findMember(b.info, name);
          const kind = OPS_KINDS[name];
          if (m === undefined || m.getter || kind === undefined) continue;
          const self: FnValue['thisValue'] = { k: 'sym', key: `new ${b.info.name}`, cls: b.info };
          callbacks.push({
            kind,
            name: `${b.info.name}.${name}`,
            fn: { k: 'fn', node: m.node, env: null, thisValue: self, owner: m.owner },
            site,
          });
        }
        return;
      }
      // A function of the driver that makes the ops (`mirrorOps(this)`): the object literals it returns.
      const fn = b?.kind === 'function' ? b.node : b?.kind === 'variable' ? b.node.getInitializer() : undefined;
      if (fn !== undefined && (Node.isFunctionDeclaration(fn) || Node.isArrowFunction(fn) || Node.isFunctionExpression(fn))) {
        const body = fn.getBody();
        const returned =
          body === undefined
            ? []
            : Node.isBlock(body)
              ? body.getDescendantsOfKind(SyntaxKind.ReturnStatement).map((r) => r.getExpression())
              : [body];
        for (const r of returned) if (r !== undefined) declaredOps(Node.isParenthesizedExpression(r) ? r.getExpression() : r, site);
      }
      return;
    }
    if (Node.isIdentifier(ops) && kinds === 'notifier') {
      const b = program.lookup(ops.getText(), ops);
      const init = b?.kind === 'variable' ? b.node.getInitializer() : undefined;
      if (init !== undefined) declaredOps(init, site);
      return;
    }
    if (kinds === 'work') {
      if (Node.isArrowFunction(ops) || Node.isFunctionExpression(ops)) {
        entries.push({
          name: `${label} work item`,
          fn: { k: 'fn', node: ops, env: null, thisValue: thisOf(cls), owner },
          driverEntry: true,
        });
      }
      return;
    }
    if (!Node.isObjectLiteralExpression(ops)) return;
    for (const p of ops.getProperties()) {
      const name = propName(p);
      if (name === undefined) continue;
      const fn = opFunction(program, p, cls, owner);
      if (fn === undefined) continue;
      if (kinds === 'vm' && name === 'fault') entries.push({ name: `${label} device fault`, fn, driverEntry: true });
      const kind = OPS_KINDS[name];
      if (kinds === 'notifier' && kind !== undefined) callbacks.push({ kind, name: `${label}.${name}`, fn, site });
    }
  };
  for (const call of scope.getDescendantsOfKind(SyntaxKind.CallExpression)) {
    if (!runsFor(cls, owner, call)) continue;
    const n = calleeName(call);
    if (n === 'mmuIntervalNotifierInsert' || n === 'mmuIntervalNotifierInsertLocked') visit(call.getArguments()[4], call, 'notifier');
    else if (n === 'createVm') visit(call.getArguments()[1], call, 'vm');
  }
  for (const ne of scope.getDescendantsOfKind(SyntaxKind.NewExpression)) {
    if (!runsFor(cls, owner, ne)) continue;
    const n = ne.getExpression().getText();
    if (n === 'MmuNotifier') visit(ne.getArguments()[0], ne, 'notifier');
    else if (n === 'Work' || n === 'DelayedWork') visit(ne.getArguments()[1], ne, 'work');
  }
  return { callbacks, entries };
}

/** Everything to analyze for `files`. */
export function discover(
  program: Program,
  files: readonly SourceFile[],
): { callbacks: Callback[]; entries: Entry[]; classes: ClassInfo[] } {
  const classes = driverClasses(program, files);
  const callbacks: Callback[] = [];
  const entries: Entry[] = [];
  for (const cls of classes) {
    for (let c: ClassInfo | null = cls; c !== null; c = c.base) {
      const r = registrations(program, c.decl, cls, c, cls.name);
      callbacks.push(...r.callbacks);
      entries.push(...r.entries);
    }
    for (const m of BINDING_METHODS) {
      const member = findMember(cls, m);
      if (member !== undefined && !member.getter) {
        entries.push({
          name: `${cls.name}.${m}`,
          fn: { k: 'fn', node: member.node, env: null, thisValue: thisOf(cls), owner: member.owner },
          driverEntry: true,
        });
      }
    }
  }
  for (const f of files) {
    for (const scope of f.getStatements()) {
      if (Node.isClassDeclaration(scope)) continue;
      const r = registrations(program, scope, null, null, f.getBaseNameWithoutExtension());
      callbacks.push(...r.callbacks);
      entries.push(...r.entries);
    }
    entries.push(...fileFunctions(program, f));
  }
  return { callbacks: dedupe(callbacks), entries: dedupeEntries(entries), classes };
}

function dedupe(cbs: Callback[]): Callback[] {
  const seen = new Set<string>();
  return cbs.filter((c) => {
    const key = `${c.fn.node.getSourceFile().getFilePath()}:${c.fn.node.getStart()}:${c.fn.thisValue?.k === 'sym' ? c.fn.thisValue.cls?.name : ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** One run per function and `this` class; a driver entry point wins over a plain function. */
function dedupeEntries(entries: Entry[]): Entry[] {
  const byKey = new Map<string, Entry>();
  for (const e of entries) {
    const cls = e.fn.thisValue?.k === 'sym' ? (e.fn.thisValue.cls?.name ?? '') : '';
    const key = `${e.fn.node.getSourceFile().getFilePath()}:${e.fn.node.getStart()}:${cls}`;
    const known = byKey.get(key);
    if (known === undefined || (!known.driverEntry && e.driverEntry)) byKey.set(key, e);
  }
  return [...byKey.values()];
}

/** Every method and named function of a file, run from its start. */
function fileFunctions(program: Program, f: SourceFile): Entry[] {
  const out: Entry[] = [];
  for (const cls of f.getClasses()) {
    const info = program.classInfo(cls);
    for (const m of cls.getMethods()) {
      if (m.getBody() === undefined) continue;
      out.push({
        name: `${info.name}.${m.getName()}`,
        fn: { k: 'fn', node: m, env: null, thisValue: thisOf(info), owner: info },
        driverEntry: false,
      });
    }
  }
  for (const fn of f.getFunctions()) {
    if (fn.getBody() !== undefined)
      out.push({
        name: fn.getName() ?? 'function',
        fn: { k: 'fn', node: fn, env: null, thisValue: null, owner: null },
        driverEntry: false,
      });
  }
  return out;
}

/**
 * Driver classes of `files`: classes declared there that no class of the files extends, and
 * classes the files' code uses as values (through the functions it calls, a few levels deep).
 */
function driverClasses(program: Program, files: readonly SourceFile[]): ClassInfo[] {
  const found = new Map<ClassDeclaration, ClassInfo>();
  const extended = new Set<ClassDeclaration>();
  for (const f of files) {
    for (const c of f.getClasses()) {
      const info = program.classInfo(c);
      if (info.base !== null) extended.add(info.base.decl);
    }
  }
  for (const f of files) for (const c of f.getClasses()) if (!extended.has(c)) found.set(c, program.classInfo(c));
  const seen = new Set<Node>();
  const work: [Node, number][] = files.flatMap((f) =>
    f
      .getStatements()
      .filter((s) => !Node.isClassDeclaration(s))
      .map((s): [Node, number] => [s, 0]),
  );
  while (work.length > 0) {
    const [node, depth] = work.pop() as [Node, number];
    if (seen.has(node) || depth > 3) continue;
    seen.add(node);
    for (const id of node.getDescendantsOfKind(SyntaxKind.Identifier)) {
      if (!isValueUse(id)) continue;
      const b = program.lookup(id.getText(), id);
      if (b?.kind === 'class') {
        if (!extended.has(b.info.decl)) found.set(b.info.decl, b.info);
      } else if (b?.kind === 'function') {
        work.push([b.node, depth + 1]);
      } else if (b?.kind === 'variable') {
        const init = b.node.getInitializer();
        if (init !== undefined) work.push([init, depth + 1]);
      }
    }
  }
  return [...found.values()];
}

function isValueUse(id: Node): boolean {
  const p = id.getParent();
  if (p === undefined) return false;
  if (Node.isExpressionWithTypeArguments(p) && Node.isHeritageClause(p.getParent())) return false;
  if (Node.isTypeReference(p) || Node.isImportSpecifier(p) || Node.isExportSpecifier(p)) return false;
  if (Node.isPropertyAccessExpression(p) && p.getNameNode() === id) return false;
  if ((Node.isPropertyAssignment(p) || Node.isMethodDeclaration(p) || Node.isPropertyDeclaration(p)) && p.getNameNode() === id)
    return false;
  return !id.getAncestors().some((a) => Node.isTypeNode(a) && !Node.isExpressionWithTypeArguments(a));
}
