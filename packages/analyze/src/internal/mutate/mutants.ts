/**
 * The mutants of a driver: every operator applied at every site of every source file the driver
 * module imports (relative imports, followed transitively; packages are not the driver's code),
 * each with a stable id, its mutated text and its diff; and a type check of one mutant.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Project, type SourceFile, ts } from 'ts-morph';
import { unifiedDiff } from '../codemod/diff.js';
import { applyEdits } from '../codemod/edits.js';
import { AnalyzeError } from '../errors.js';
import { OPERATORS } from './operators.js';
import { placeKey } from './sites.js';

/** One mutant: one operator at one site of one file. */
export interface Mutant {
  /**
   * `operator@file:function#n`: the operator, the file relative to the driver's folder, the
   * function (`Class.method`, `ops.invalidate`, `>λ` for a callback inside it) and the ordinal of
   * the site among that operator's sites in that function. No line numbers: the id survives
   * edits elsewhere.
   */
  readonly id: string;
  /** The mutation operator (one of {@link OPERATOR_NAMES}). */
  readonly operator: string;
  /** Absolute path of the mutated file. */
  readonly file: string;
  /** 1-based line of the mutated site. */
  readonly line: number;
  /** What the mutant does. */
  readonly what: string;
  /** The mutated file's whole text. */
  readonly text: string;
  /** Unified diff against the original, paths relative to the driver's folder. */
  readonly diff: string;
}

/** The mutants of one driver. */
export interface MutantSet {
  /** The driver module. */
  readonly driver: string;
  /** Its source files, the module first (absolute paths). */
  readonly files: readonly string[];
  /** Every mutant of the driver's files. */
  readonly mutants: readonly Mutant[];
  /** Type errors of `mutant` in its file (`file:line: message`); empty when it checks. */
  typeErrors(mutant: Mutant): string[];
}

const SPECIFIER = /^\.\.?\//;

/** The source file a relative import names (`./x.js` is `./x.ts` in TypeScript sources). */
function resolveImport(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec);
  for (const c of [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')])
    if (/\.(m?ts)$/.test(c) && existsSync(c)) return c;
  return null;
}

function importsOf(file: SourceFile): string[] {
  const specs = [
    ...file.getImportDeclarations().filter((d) => !d.isTypeOnly()),
    ...file.getExportDeclarations().filter((d) => !d.isTypeOnly()),
  ].flatMap((d) => d.getModuleSpecifierValue() ?? []);
  return specs.filter((s) => SPECIFIER.test(s)).flatMap((s) => resolveImport(file.getFilePath(), s) ?? []);
}

/** Compiler options of a driver as `hmmlab fuzz` type-checks it (sources of hmmlab's packages through `@hmmlab/source`). */
const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2023,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  allowImportingTsExtensions: true,
  customConditions: ['@hmmlab/source'],
  types: ['node'],
};

/** Options of {@link mutants}. */
export interface MutantOptions {
  /** Only these operators. @defaultValue all of them */
  readonly operators?: readonly string[];
}

/** The operators' names, in report order. */
export const OPERATOR_NAMES: readonly string[] = OPERATORS.map((o) => o.name);

/**
 * Every mutant of the driver module `driver`: each operator at each site of the module and of
 * every source it imports by a relative path, in file, then operator, then source order.
 */
export function mutants(driver: string, options: MutantOptions = {}): MutantSet {
  const abs = resolve(driver);
  if (!existsSync(abs)) throw new AnalyzeError('ERR_NO_SUCH_FILE', `mutate: no such driver module: ${driver}`);
  for (const o of options.operators ?? []) {
    if (!OPERATOR_NAMES.includes(o))
      throw new AnalyzeError('ERR_USAGE', `mutate: unknown operator ${o}; expected one of ${OPERATOR_NAMES.join(', ')}`);
  }
  const project = new Project({ compilerOptions: COMPILER_OPTIONS, skipAddingFilesFromTsConfig: true });
  const files: string[] = [];
  const queue = [abs];
  while (queue.length > 0) {
    const f = queue.shift() as string;
    if (files.includes(f)) continue;
    files.push(f);
    queue.push(...importsOf(project.addSourceFileAtPath(f)));
  }
  const root = dirname(abs);
  const ops = OPERATORS.filter((o) => options.operators === undefined || options.operators.includes(o.name));
  const out: Mutant[] = [];
  for (const f of files) {
    const sf = project.getSourceFileOrThrow(f);
    const original = sf.getFullText();
    const rel = relative(root, f);
    for (const op of ops) {
      const ordinals = new Map<string, number>();
      for (const site of op.sites(sf)) {
        if (site.edits.length === 0) continue;
        const place = placeKey(site.anchor);
        const n = ordinals.get(place) ?? 0;
        ordinals.set(place, n + 1);
        const text = applyEdits(original, site.edits);
        if (text === original) continue;
        out.push({
          id: `${op.name}@${rel}:${place}#${n}`,
          operator: op.name,
          file: f,
          line: site.anchor.getStartLineNumber(),
          what: site.what.replace(/\s+/g, ' '),
          text,
          diff: unifiedDiff(rel, original, text),
        });
      }
    }
  }
  return {
    driver: abs,
    files,
    mutants: out,
    typeErrors: (m) => {
      const sf = project.getSourceFileOrThrow(m.file);
      const original = sf.getFullText();
      sf.replaceWithText(m.text);
      try {
        return sf.getPreEmitDiagnostics().map((d) => {
          const msg = ts.flattenDiagnosticMessageText(d.compilerObject.messageText, ' ');
          return `${relative(root, m.file)}:${d.getLineNumber() ?? 0}: ${msg}`;
        });
      } finally {
        sf.replaceWithText(original);
      }
    },
  };
}

/** One entry of `mutation-equivalents.json`. */
export interface Equivalent {
  /** The mutant's id (see {@link Mutant.id}). */
  readonly id: string;
  /** Why the mutant cannot break the flush contract. */
  readonly reason: string;
}

/** The file beside a driver that lists its equivalent mutants. */
export const EQUIVALENTS_FILE = 'mutation-equivalents.json';

/**
 * The equivalent mutants listed beside `driver` in `mutation-equivalents.json`
 * (`{ "equivalent": [{ "id": "…", "reason": "…" }] }`); empty when there is no such file.
 */
export function readEquivalents(driver: string): Equivalent[] {
  const f = join(dirname(resolve(driver)), EQUIVALENTS_FILE);
  if (!existsSync(f)) return [];
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    throw new AnalyzeError('ERR_USAGE', `${f}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const list = (data as { equivalent?: unknown }).equivalent;
  const ok =
    Array.isArray(list) &&
    list.every((x) => typeof x === 'object' && x !== null && typeof x.id === 'string' && typeof x.reason === 'string' && x.reason !== '');
  if (!ok) throw new AnalyzeError('ERR_USAGE', `${f}: expected { "equivalent": [{ "id": "<mutant id>", "reason": "<why>" }] }`);
  return list as Equivalent[];
}
