/**
 * The driver sources as ts-morph sees them, the type checker asked only for a lock's declaration
 * (see the compiler options of {@link Program}): files are loaded as they are
 * reached through imports by path (relative, absolute or `file:` URL), and names are resolved lexically (locals, top-level
 * declarations, imports). Package imports (`@hmmlab/core`, `@hmmlab/harness`) are not loaded:
 * the interpreter knows their API by name.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ClassDeclaration,
  type FunctionDeclaration,
  type MethodDeclaration,
  Node,
  Project,
  type SourceFile,
  SyntaxKind,
  type VariableDeclaration,
} from 'ts-morph';
import { assertParses } from '../syntax.js';

/** A class and its base, as far as it can be resolved. */
export interface ClassInfo {
  readonly name: string;
  readonly decl: ClassDeclaration;
  readonly base: ClassInfo | null;
}

/** What a name refers to. */
export type Binding =
  | { readonly kind: 'class'; readonly info: ClassInfo }
  | { readonly kind: 'function'; readonly node: FunctionDeclaration }
  | { readonly kind: 'variable'; readonly node: VariableDeclaration }
  /** A parameter or local of a function the analysis does not run (a closure's outer scope). */
  | { readonly kind: 'outer'; readonly name: string; readonly node: Node }
  /** An import from a package, by its exported name. */
  | { readonly kind: 'package'; readonly module: string; readonly name: string };

/** Loads and resolves driver sources. */
export class Program {
  readonly project = new Project({
    skipAddingFilesFromTsConfig: true,
    skipFileDependencyResolution: true,
    // The type checker is asked only where a lock's declaration is found from an expression
    // (builtins.ts, isSpinLock): it needs the ECMAScript library (a field reached through a Map or
    // an array), not the DOM library, which TypeScript's default adds (lib.es2025.full.d.ts) and
    // which was most of the text a lint parsed: a driver runs in Node.js.
    compilerOptions: { allowJs: false, lib: ['lib.es2025.d.ts'] },
  });
  private readonly classes = new Map<ClassDeclaration, ClassInfo>();

  private readonly api: string;
  private readonly cwd: string;

  /** `api` names the command in errors; paths in them are relative to `cwd`. */
  constructor(api = 'analyze', cwd = process.cwd()) {
    this.api = api;
    this.cwd = cwd;
  }

  /** The source file at `path` (loaded once); a file with a syntax error throws `ERR_PARSE`. */
  file(path: string): SourceFile {
    const abs = resolve(path);
    const known = this.project.getSourceFile(abs);
    if (known !== undefined) return known;
    const added = this.project.addSourceFileAtPath(abs);
    assertParses(this.api, added, this.cwd);
    return added;
  }

  /** Adds a source file from text (tests, fixtures). */
  addText(path: string, text: string): SourceFile {
    this.lookups.clear();
    return this.project.createSourceFile(resolve(path), text, { overwrite: true });
  }

  /**
   * The file a module specifier of `from` names by path (`./x.js` → `./x.ts`, `/abs/x.js`,
   * `file:///abs/x.js`), or undefined for a package or a path with no TypeScript source.
   */
  resolveModule(from: SourceFile, spec: string): SourceFile | undefined {
    const path = modulePath(spec);
    if (path === undefined) return undefined;
    const base = resolve(dirname(from.getFilePath()), path);
    const stem = base.replace(/\.(m|c)?js$/, '');
    for (const c of [`${stem}.ts`, `${stem}.mts`, `${stem}.tsx`, base, `${base}/index.ts`]) {
      const known = this.project.getSourceFile(c);
      if (known !== undefined) return known;
      if (existsSync(c) && statSync(c).isFile() && /\.(m|c)?tsx?$/.test(c)) return this.file(c);
    }
    return undefined;
  }

  /** The class info of a declaration. */
  classInfo(decl: ClassDeclaration): ClassInfo {
    const known = this.classes.get(decl);
    if (known !== undefined) return known;
    let base: ClassInfo | null = null;
    const ext = decl.getExtends();
    if (ext !== undefined) {
      const e = ext.getExpression();
      if (Node.isIdentifier(e)) {
        const b = this.lookup(e.getText(), e);
        if (b?.kind === 'class') base = b.info;
      }
    }
    const info: ClassInfo = { name: decl.getName() ?? '(anonymous class)', decl, base };
    this.classes.set(decl, info);
    return info;
  }

  /**
   * Answers of {@link Program.lookup} by node and name: the analysis runs the same code on every
   * path, and the answer depends only on the sources (forgotten when one is replaced).
   */
  private readonly lookups = new Map<Node, Map<string, Binding | undefined>>();

  /** What `name`, used at `at`, refers to outside the variables of running frames. */
  lookup(name: string, at: Node): Binding | undefined {
    let byName = this.lookups.get(at);
    if (byName === undefined) {
      byName = new Map();
      this.lookups.set(at, byName);
    }
    if (byName.has(name)) return byName.get(name);
    const b = this.resolve(name, at);
    byName.set(name, b);
    return b;
  }

  private resolve(name: string, at: Node): Binding | undefined {
    for (let n: Node | undefined = at.getParent(); n !== undefined; n = n.getParent()) {
      if (Node.isSourceFile(n)) return this.topLevel(n, name, 0);
      const local = localDeclaration(n, name);
      if (local !== undefined) {
        if (Node.isClassDeclaration(local)) return { kind: 'class', info: this.classInfo(local) };
        if (Node.isFunctionDeclaration(local)) return { kind: 'function', node: local };
        if (Node.isVariableDeclaration(local) && isFunctionInit(local)) return { kind: 'variable', node: local };
        return { kind: 'outer', name, node: local };
      }
    }
    return undefined;
  }

  /** The class of the program a type annotation names (`Foo`, `Foo | null`, `Foo | undefined`), or undefined. */
  classNamed(type: Node): ClassInfo | undefined {
    const names = type
      .getText()
      .split('|')
      .map((t) => t.trim())
      .filter((t) => t !== 'null' && t !== 'undefined');
    const only = names.length === 1 ? names[0] : undefined;
    if (only === undefined || !/^[A-Z]\w*$/.test(only)) return undefined;
    const b = this.lookup(only, type);
    return b?.kind === 'class' ? b.info : undefined;
  }

  /** A top-level declaration of `file` named `name` (following imports and re-exports). */
  topLevel(file: SourceFile, name: string, depth: number): Binding | undefined {
    if (depth > 8) return undefined;
    const cls = file.getClass(name);
    if (cls !== undefined) return { kind: 'class', info: this.classInfo(cls) };
    const fn = file.getFunction(name);
    if (fn !== undefined) return { kind: 'function', node: fn };
    const v = file.getVariableDeclaration(name);
    if (v !== undefined) return { kind: 'variable', node: v };
    for (const imp of file.getImportDeclarations()) {
      const spec = imp.getModuleSpecifierValue();
      for (const ni of imp.getNamedImports()) {
        const local = ni.getAliasNode()?.getText() ?? ni.getName();
        if (local !== name) continue;
        const target = this.resolveModule(file, spec);
        if (target === undefined) return { kind: 'package', module: spec, name: ni.getName() };
        return this.topLevel(target, ni.getName(), depth + 1);
      }
      if (imp.getDefaultImport()?.getText() === name) {
        const target = this.resolveModule(file, spec);
        if (target === undefined) return { kind: 'package', module: spec, name: 'default' };
        return undefined;
      }
    }
    for (const exp of file.getExportDeclarations()) {
      const spec = exp.getModuleSpecifierValue();
      if (spec === undefined) continue;
      for (const ne of exp.getNamedExports()) {
        if ((ne.getAliasNode()?.getText() ?? ne.getName()) !== name) continue;
        const target = this.resolveModule(file, spec);
        return target === undefined
          ? { kind: 'package', module: spec, name: ne.getName() }
          : this.topLevel(target, ne.getName(), depth + 1);
      }
    }
    return undefined;
  }
}

/** The path a module specifier names: relative or absolute, or a `file:` URL; undefined for a package. */
function modulePath(spec: string): string | undefined {
  if (spec.startsWith('file:')) {
    try {
      return fileURLToPath(spec);
    } catch {
      return undefined;
    }
  }
  return spec.startsWith('.') || isAbsolute(spec) ? spec : undefined;
}

function isFunctionInit(v: VariableDeclaration): boolean {
  const init = v.getInitializer();
  return init !== undefined && (Node.isArrowFunction(init) || Node.isFunctionExpression(init));
}

/** A declaration of `name` directly in scope `n` (its parameters, block statements, loop heads). */
function localDeclaration(n: Node, name: string): Node | undefined {
  if (Node.isFunctionLikeDeclaration(n) || Node.isArrowFunction(n) || Node.isFunctionExpression(n)) {
    for (const p of n.getParameters()) {
      const nn = p.getNameNode();
      if (Node.isIdentifier(nn) ? nn.getText() === name : bindsName(nn, name)) return p;
    }
  }
  if (Node.isBlock(n) || Node.isSourceFile(n) || Node.isCaseClause(n) || Node.isDefaultClause(n)) {
    for (const st of n.getStatements()) {
      if (Node.isVariableStatement(st)) {
        for (const d of st.getDeclarations()) if (bindsName(d.getNameNode(), name)) return d;
      } else if ((Node.isFunctionDeclaration(st) || Node.isClassDeclaration(st)) && st.getName() === name) {
        return st;
      }
    }
  }
  if (Node.isForStatement(n) || Node.isForOfStatement(n) || Node.isForInStatement(n)) {
    const init = n.getInitializer();
    if (init !== undefined && Node.isVariableDeclarationList(init)) {
      for (const d of init.getDeclarations()) if (bindsName(d.getNameNode(), name)) return d;
    }
  }
  if (Node.isCatchClause(n)) {
    const d = n.getVariableDeclaration();
    if (d !== undefined && bindsName(d.getNameNode(), name)) return d;
  }
  return undefined;
}

/** True if a binding name (identifier or pattern) declares `name`. */
function bindsName(n: Node, name: string): boolean {
  if (Node.isIdentifier(n)) return n.getText() === name;
  return n.getDescendantsOfKind(SyntaxKind.Identifier).some((i) => {
    const p = i.getParent();
    return i.getText() === name && !(p !== undefined && Node.isBindingElement(p) && p.getPropertyNameNode() === i);
  });
}

/** What {@link findMember} finds. */
type Member = { readonly node: MethodDeclaration | Node; readonly owner: ClassInfo; readonly getter: boolean };

/**
 * `answer(cls, name)`, kept in `cache`: the analysis asks the same question of a class on every
 * path, and a class's declarations do not change (a replaced source makes new `ClassInfo`s).
 */
export function perClassAndName<T>(
  cache: WeakMap<ClassInfo, Map<string, T>>,
  cls: ClassInfo,
  name: string,
  answer: (cls: ClassInfo, name: string) => T,
): T {
  let byName = cache.get(cls);
  if (byName === undefined) {
    byName = new Map();
    cache.set(cls, byName);
  }
  if (byName.has(name)) return byName.get(name) as T;
  const a = answer(cls, name);
  byName.set(name, a);
  return a;
}

/** Answers of {@link findMember} by class and name. */
const members = new WeakMap<ClassInfo, Map<string, Member | undefined>>();

/** A member of a class chain by name: method, getter or arrow-valued property, with the class it is in. */
export function findMember(cls: ClassInfo | null, name: string): Member | undefined {
  return cls === null ? undefined : perClassAndName(members, cls, name, memberOf);
}

/** The `set name(v)` accessor `cls` or a base class declares, unless a field of that name comes first. */
export function findSetter(cls: ClassInfo, name: string): { readonly node: Node; readonly owner: ClassInfo } | undefined {
  for (let c: ClassInfo | null = cls; c !== null; c = c.base) {
    const s = c.decl.getSetAccessor(name);
    if (s !== undefined) return s.getBody() === undefined ? undefined : { node: s, owner: c };
    if (c.decl.getProperty(name) !== undefined) return undefined;
  }
  return undefined;
}

function memberOf(cls: ClassInfo, name: string): Member | undefined {
  for (let c: ClassInfo | null = cls; c !== null; c = c.base) {
    const m = c.decl.getMethod(name);
    if (m !== undefined && m.getBody() !== undefined) return { node: m, owner: c, getter: false };
    const g = c.decl.getGetAccessor(name);
    if (g !== undefined) return { node: g, owner: c, getter: true };
    const p = c.decl.getProperty(name);
    if (p !== undefined) {
      const init = p.getInitializer();
      if (init !== undefined && (Node.isArrowFunction(init) || Node.isFunctionExpression(init)))
        return { node: init, owner: c, getter: false };
      return undefined;
    }
  }
  return undefined;
}
