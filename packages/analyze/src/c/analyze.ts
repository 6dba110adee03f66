/**
 * Finds what a C driver registers and runs it: every `struct mmu_interval_notifier_ops` /
 * `struct mmu_notifier_ops` initialiser (its `.invalidate`, `.invalidate_range_start`,
 * `.invalidate_range_end`, `.release` callbacks, resolved to function definitions of the analysed
 * files), and the fault paths: the functions that check `mmu_interval_read_retry`, taken from
 * their outermost caller in the same files so the locks the caller holds are seen.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AnalyzeError } from '../internal/errors.js';
import { expandSourcePaths } from '../internal/files.js';
import { CInterp, type CPath, declName, type FnDef, type CInterp as Interp, lastName, XA_ERASE } from './interp.js';
import { type CNode, cParser, kids, lineOf } from './parse.js';

/** The kind of a C callback, by its ops field. */
export type CCallbackKind = 'interval' | 'start' | 'end' | 'release';

/** One callback or fault path, with its paths. */
export interface CRun {
  /** `ops_table.field` for a callback, the function's name for a fault path. */
  readonly name: string;
  /** A callback's kind; `fault` for a fault path, `teardown` for a function that removes a notifier. */
  readonly kind: CCallbackKind | 'fault' | 'teardown';
  readonly fn: FnDef;
  readonly line: number;
  readonly paths: readonly CPath[];
  readonly truncated: boolean;
  /** A fault path with external linkage: callers in other files may hold the lock. */
  readonly external: boolean;
}

/** What the C rules look at. */
export interface CAnalysis {
  readonly callbacks: readonly CRun[];
  readonly entries: readonly CRun[];
  /**
   * The functions that call `mmu_interval_notifier_remove` or `mmu_notifier_unregister` (callbacks
   * aside), taken from their outermost caller in the files as fault paths are, so the locks the
   * caller holds are seen.
   */
  readonly teardowns: readonly CRun[];
  /** Work functions by the last name of their work item (`INIT_WORK(&p->gc_work, fn)`), by the folder of the driver. */
  readonly works: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Functions of the files that call `mmu_interval_notifier_remove` or `mmu_notifier_unregister`, directly or not: name → which. */
  readonly removers: ReadonlyMap<string, string>;
  /** Last names of the locks held where `mmu_interval_read_retry` is checked, by the folder of the driver. */
  readonly retryLocks: ReadonlyMap<string, ReadonlySet<string>>;
  /** Last names of the locks held where callbacks call `mmu_interval_set_seq`, by the folder of the driver. */
  readonly seqLocks: ReadonlyMap<string, ReadonlySet<string>>;
  /** Ops fields naming a function the analysed files do not define: `table.field → name`. */
  readonly unresolved: readonly string[];
  /** Files read, and files parsed (those that mention the notifier API). */
  readonly read: number;
  readonly parsed: number;
}

const FIELD_KIND: Readonly<Record<string, CCallbackKind>> = {
  invalidate: 'interval',
  invalidate_range_start: 'start',
  invalidate_range_end: 'end',
  release: 'release',
};

/** A file mentions the notifier API: only such files are parsed. */
const MENTIONS = /mmu_interval_notifier_ops|mmu_notifier_ops|mmu_interval_read_retry|mmu_interval_set_seq/;

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (st.isDirectory()) {
      if (!name.startsWith('.')) walk(p, out);
    } else if (name.endsWith('.c') || name.endsWith('.h')) out.push(p);
  }
}

/** The C files of `paths`: `.c` and `.h` files, folders searched. */
function expandCPaths(api: string, paths: readonly string[]): string[] {
  return expandSourcePaths(api, paths, walk, '.c or .h sources', (f) => f.endsWith('.c') || f.endsWith('.h'));
}

/** True if `paths` name C sources: `.c`/`.h` files, or folders that hold C and no TypeScript. */
export function isCTarget(paths: readonly string[]): boolean {
  if (paths.length === 0) return false;
  return paths.every((p) => {
    const abs = resolve(p);
    if (/\.[ch]$/.test(p)) return true;
    if (!existsSync(abs) || !statSync(abs).isDirectory()) return false;
    // Level by level, to the first level that holds C sources (a driver may sit deep in a tree,
    // drivers/gpu/drm/amd/amdkfd): C sources and no TypeScript down to that level.
    let level = [abs];
    while (level.length > 0) {
      let c = false;
      const next: string[] = [];
      for (const d of level) {
        for (const name of readdirSync(d)) {
          if (name === 'node_modules' || name.startsWith('.')) continue;
          const q = join(d, name);
          const st = statSync(q, { throwIfNoEntry: false });
          if (st?.isDirectory() === true) next.push(q);
          else if (/\.[ch]$/.test(name)) c = true;
          else if (/\.(m|c)?ts$/.test(name)) return false;
        }
      }
      if (c) return true;
      level = next;
    }
    return false;
  });
}

/** Comments right before a node (its doc comment, the comment above a test). */
function commentsBefore(n: CNode): string[] {
  const out: string[] = [];
  let p = n.previousSibling;
  while (p !== null && p.type === 'comment') {
    out.unshift(p.text);
    p = p.previousSibling;
  }
  // A comment at the end of the previous line, or the first line inside the parent block.
  return out;
}

interface ParsedFile {
  readonly file: string;
  readonly fns: FnDef[];
  readonly tables: { name: string; field: string; fn: string; line: number }[];
  readonly calls: Map<string, Set<string>>;
  /** `INIT_WORK(&p->work, fn)` and `INIT_DELAYED_WORK`: the work item's last name → `fn`. */
  readonly works: Map<string, string>;
}

function parseFile(parser: Awaited<ReturnType<typeof cParser>>, file: string, text: string): ParsedFile {
  const tree = parser.parse(text);
  if (tree === null) throw new AnalyzeError('ERR_PARSE', `${file}: the C parser returned nothing`);
  const fns: FnDef[] = [];
  const tables: ParsedFile['tables'] = [];
  const calls = new Map<string, Set<string>>();
  const works = new Map<string, string>();
  for (const top of kids(tree.rootNode)) collectTop(top, file, fns, tables);
  for (const f of fns) {
    const called = new Set<string>();
    for (const c of f.node.descendantsOfType('call_expression')) {
      const fn = c?.childForFieldName('function');
      if (fn?.type === 'identifier') called.add(fn.text);
      if (c === null || !/^INIT_(DELAYED_)?WORK$/.test(fn?.text ?? '')) continue;
      const [item, handler] = kids(c.childForFieldName('arguments') as CNode).filter((a) => a.type !== 'comment');
      if (item !== undefined && handler?.type === 'identifier') works.set(lastName(item.text), handler.text);
    }
    calls.set(f.name, called);
  }
  return { file, fns, tables, calls, works };
}

/** Functions and ops initialisers at file level (also inside `#ifdef` blocks). */
function collectTop(top: CNode, file: string, fns: FnDef[], tables: ParsedFile['tables']): void {
  if (/^preproc_(if|ifdef|else|elif)/.test(top.type)) {
    for (const k of kids(top)) collectTop(k, file, fns, tables);
    return;
  }
  if (top.type === 'function_definition') {
    const decl = top.childForFieldName('declarator');
    let fd: CNode | null = decl;
    while (fd !== null && fd.type !== 'function_declarator') fd = fd.childForFieldName('declarator');
    const name = declName(decl);
    if (fd === null || name === undefined) return;
    const params = kids(fd.childForFieldName('parameters') as CNode)
      .filter((p) => p.type === 'parameter_declaration')
      .map((p) => declName(p.childForFieldName('declarator')) ?? '');
    fns.push({ name, file, node: top, params, doc: commentsBefore(top).join('\n') });
    return;
  }
  if (top.type !== 'declaration') return;
  const type = top.childForFieldName('type');
  const typeName = type?.type === 'struct_specifier' ? type.childForFieldName('name')?.text : undefined;
  if (typeName !== 'mmu_interval_notifier_ops' && typeName !== 'mmu_notifier_ops') return;
  for (const d of kids(top)) {
    if (d.type !== 'init_declarator') continue;
    const name = declName(d.childForFieldName('declarator')) ?? '?';
    const init = d.childForFieldName('value');
    if (init?.type !== 'initializer_list') continue;
    for (const pair of kids(init)) {
      if (pair.type !== 'initializer_pair') continue;
      const field = pair.childForFieldName('designator')?.text.replace(/^\./, '') ?? '';
      const value = pair.childForFieldName('value');
      if (FIELD_KIND[field] === undefined || value?.type !== 'identifier') continue;
      tables.push({ name, field, fn: value.text, line: lineOf(pair) });
    }
  }
}

/**
 * Parses the C files of `paths` (only those that mention the notifier API) and runs every
 * callback and fault path over its paths.
 */
export async function analyzeC(api: string, paths: readonly string[]): Promise<CAnalysis> {
  const files = expandCPaths(api, paths);
  const parser = await cParser();
  const parsed: ParsedFile[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    if (!MENTIONS.test(text)) continue;
    parsed.push(parseFile(parser, f, text));
  }
  const fns = new Map<string, FnDef>();
  for (const p of parsed) for (const f of p.fns) if (!fns.has(f.name)) fns.set(f.name, f);
  const interp = new CInterp(fns, commentsBefore);
  const callbacks: CRun[] = [];
  const unresolved: string[] = [];
  for (const p of parsed) {
    for (const t of p.tables) {
      const kind = FIELD_KIND[t.field] as CCallbackKind;
      const def = fns.get(t.fn);
      if (def === undefined) {
        unresolved.push(`${t.name}.${t.field} → ${t.fn}`);
        continue;
      }
      callbacks.push(runOne(interp, `${t.name}.${t.field}`, kind, def));
    }
  }
  // An xarray the invalidate callbacks erase from is the device's page table (test_hmm's
  // `dmirror->pt`): the fault paths' stores into it program the device.
  for (const cb of callbacks) {
    if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
    for (const p of cb.paths) {
      for (const e of p.state.effects) {
        if (e.t !== 'op' || !XA_ERASE.test(e.name) || e.target === '') continue;
        const dir = dirname(e.at.file);
        const set = interp.deviceTables.get(dir) ?? new Set<string>();
        interp.deviceTables.set(dir, set.add(lastName(e.target)));
      }
    }
  }
  // Fault paths: the functions that check the sequence, and those that read it and never check it
  // (a finding of their own), each from its outermost caller.
  const checks = outermostCallers(parsed, fns, ['mmu_interval_read_retry']);
  const readsOnly = outermostCallers(parsed, fns, ['mmu_interval_read_begin']).filter(
    (def) => !checks.includes(def) && !reaches(parsed, def.name, 'mmu_interval_read_retry'),
  );
  const entries = [...checks, ...readsOnly].map((def) => ({
    ...runOne(interp, def.name, 'fault', def),
    external: !isStatic(def),
  }));
  const callbackFns = new Set(callbacks.map((c) => c.fn.name));
  const teardowns = outermostCallers(parsed, fns, REMOVALS)
    .filter((def) => !callbackFns.has(def.name))
    .map((def) => runOne(interp, def.name, 'teardown', def));
  const works = new Map<string, Map<string, string>>();
  for (const p of parsed) {
    const m = works.get(dirname(p.file)) ?? new Map<string, string>();
    works.set(dirname(p.file), m);
    for (const [k, v] of p.works) if (!m.has(k)) m.set(k, v);
  }
  // A driver is the folder of its files: lock names are matched within it, never across drivers.
  const locksOf = (runs: readonly CRun[], t: 'read-retry' | 'set-seq') => {
    const m = new Map<string, Set<string>>();
    for (const r of runs) {
      const set = m.get(dirname(r.fn.file)) ?? new Set<string>();
      m.set(dirname(r.fn.file), set);
      for (const p of r.paths) for (const x of p.state.effects) if (x.t === t) for (const h of x.held) set.add(h.name);
    }
    return m;
  };
  const retryLocks = locksOf(entries, 'read-retry');
  const seqLocks = locksOf(callbacks, 'set-seq');
  return {
    callbacks,
    entries,
    teardowns,
    works,
    removers: removers(parsed, REMOVALS),
    retryLocks,
    seqLocks,
    unresolved,
    read: files.length,
    parsed: parsed.length,
  };
}

function runOne(interp: Interp, name: string, kind: CRun['kind'], def: FnDef): CRun {
  const params = new Map<number, 'range' | 'mni'>();
  if (kind === 'interval') params.set(0, 'mni').set(1, 'range');
  if (kind === 'start' || kind === 'end') params.set(1, 'range');
  const ret = kind === 'interval' ? 'bool' : kind === 'start' || kind === 'fault' || kind === 'teardown' ? 'int' : 'void';
  const paths = interp.run(def, params, ret);
  return { name, kind, fn: def, line: lineOf(def.node), paths, truncated: interp.truncated, external: false };
}

/** True if a definition is `static` (file-local). */
function isStatic(def: FnDef): boolean {
  return kids(def.node).some((k) => k.type === 'storage_class_specifier' && k.text === 'static');
}

/** The kernel functions that remove a notifier and wait for its callbacks. */
const REMOVALS = ['mmu_interval_notifier_remove', 'mmu_notifier_unregister'] as const;

/** Every function that reaches one of `callees` through calls in the files: name → the callee it reaches. */
function removers(parsed: readonly ParsedFile[], callees: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const calls = parsed.flatMap((p) => [...p.calls]);
  for (const c of callees) out.set(c, c);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, called] of calls) {
      if (out.has(name)) continue;
      const hit = [...called].find((c) => out.has(c));
      if (hit === undefined) continue;
      out.set(name, out.get(hit) as string);
      changed = true;
    }
  }
  for (const c of callees) out.delete(c);
  return out;
}

/**
 * The functions to run from their start for calls of `callees`: each function that calls one
 * itself, or, when it takes no lock (its caller holds it), its callers in the files, up to the
 * first that takes one. For `mmu_interval_read_retry`, these are the fault paths.
 */
function outermostCallers(parsed: readonly ParsedFile[], fns: ReadonlyMap<string, FnDef>, callees: readonly string[]): FnDef[] {
  const calls = new Map<string, Set<string>>();
  for (const p of parsed) for (const [k, v] of p.calls) calls.set(k, v);
  const takesLock = (name: string) => [...(calls.get(name) ?? [])].some((c) => LOCKS.test(c));
  const out = new Set<string>();
  const up = (name: string, seen: Set<string>) => {
    if (seen.has(name)) return;
    seen.add(name);
    const callers = [...calls].filter(([k, v]) => k !== name && v.has(name)).map(([k]) => k);
    if (takesLock(name) || callers.length === 0) out.add(name);
    else for (const c of callers) up(c, seen);
  };
  for (const [name, c] of calls) if (callees.some((x) => c.has(x))) up(name, new Set());
  return [...out].map((n) => fns.get(n)).filter((f): f is FnDef => f !== undefined);
}

/** True if `name` calls `callee`, directly or through functions of the files. */
function reaches(parsed: readonly ParsedFile[], name: string, callee: string): boolean {
  const calls = new Map<string, Set<string>>();
  for (const p of parsed) for (const [k, v] of p.calls) calls.set(k, v);
  const seen = new Set<string>();
  const go = (n: string): boolean => {
    if (seen.has(n)) return false;
    seen.add(n);
    const c = calls.get(n);
    return c !== undefined && (c.has(callee) || [...c].some(go));
  };
  return go(name);
}

const LOCKS = /^(mutex_lock|mutex_trylock|spin_lock|spin_trylock|down_read|down_write|read_lock|write_lock|raw_spin_lock)/;
