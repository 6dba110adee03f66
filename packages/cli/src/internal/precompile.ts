/**
 * TypeScript driver modules compiled in the command's process, before a watched worker imports
 * them: the worker then registers a loader that only hands out the compiled JavaScript
 * (precompiled-hooks.ts) instead of tsx, whose hooks thread loads esbuild and its own resolver in
 * every host (docs/performance.md, "Driver modules compiled by the command, and a bad path said before
 * ts-morph loads").
 *
 * The modules are those a driver imports, found the way a bundler finds them (esbuild, the
 * compiler tsx runs): every TypeScript module its static and literal dynamic imports reach by a
 * relative path (`./svm-range.js` for `svm-range.ts`, as TypeScript writes it). Each is compiled
 * on its own as tsx compiles it: esbuild with tsx's options, and the tsconfig tsx takes (the one
 * TSX_TSCONFIG_PATH names, else the first from the working folder up) when it includes the file.
 * Each is loaded under its own URL: `import.meta.url`, error messages and stack traces (an inline
 * source map) name the TypeScript file. Imports of packages and of Node.js's modules are resolved
 * by Node.js, as under tsx.
 *
 * Anything else goes to tsx, as before: a module Node.js loads as CommonJS (a `.cts`, or a `.ts`
 * in a package without `"type": "module"`), a local JavaScript or JSON module, a package's
 * TypeScript, an `import()` of a computed name, a tsconfig with `paths`, `baseUrl` or `extends`, or
 * that includes some of the modules and not others, or any error or warning of the compiler (tsx
 * then reports a syntax error in its own words). A compilation is remembered in the system's
 * temporary folder with the size and modification time of every file it read, and of every folder
 * that holds one (a file added beside an import may change where it leads); while none of them
 * changes, the command loads neither esbuild nor the sources.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TsconfigRaw } from 'esbuild';
import type { TsConfigJsonResolved, TsConfigResult } from 'get-tsconfig';
import { absent, type Stamp, stamp, unchanged } from './stamps.js';

/** What the worker's loader needs (precompiled-hooks.ts): plain strings, sent to the host process and its threads. */
export interface Precompiled {
  /** The file that holds the compiled JavaScript of each TypeScript module, by the module's URL. */
  readonly modules: Readonly<Record<string, string>>;
  /** The URL each import of those modules leads to (`parentURL` and specifier, a newline between), when it is a TypeScript module. */
  readonly resolved: Readonly<Record<string, string>>;
}

/** A compilation as it is remembered: what it read, and its result. */
interface Compilation {
  readonly stamps: readonly Stamp[];
  readonly result: Precompiled;
}

const TYPESCRIPT = /\.(?:[cm]?ts|tsx)$/;
const RELATIVE = /^\.{1,2}(?:\/|$)|^\//;
/** Marks the resolutions the graph plugin asks esbuild for itself, so that it does not see them again. */
const GRAPH = Symbol('hmmlab-graph');
/** Bumped when what a compilation makes changes, so that an older record is not reused. */
const VERSION = 1;

/** Where compilations are remembered. */
function cacheDir(): string {
  return join(tmpdir(), `hmmlab-precompile-${process.getuid?.() ?? 'user'}`);
}

/**
 * The conditions Node.js resolves package exports with in this process and the processes it
 * starts (`--conditions`, `-C`, in NODE_OPTIONS or the command line): esbuild must resolve a
 * package name to the file Node.js would, to tell a TypeScript module from a JavaScript one.
 */
function nodeConditions(): string[] {
  const words = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    const eq = /^(?:--conditions|-C)=(.+)$/.exec(w);
    if (eq !== null) out.push(eq[1] as string);
    else if ((w === '--conditions' || w === '-C') && i + 1 < words.length) out.push(words[++i] as string);
  }
  return out;
}

/** The package.json that decides how Node.js loads `file`, if any. */
function packageJsonOf(file: string): string | null {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (stamp(p) !== null) return p;
    if (dirname(dir) === dir) return null;
  }
}

/** Whether Node.js loads TypeScript module `file` as an ES module (tsx too): `.mts`, or `.ts`/`.tsx` under `"type": "module"`. */
function loadsAsModule(file: string, pkg: string | null): boolean {
  if (file.endsWith('.mts')) return true;
  if (file.endsWith('.cts') || pkg === null) return false;
  try {
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module';
  } catch {
    return false;
  }
}

/**
 * The compiled driver modules `entries` (TypeScript files) import, or null when tsx is to load
 * them (see the module's comment). Never throws: whatever goes wrong here, tsx loads the driver.
 */
export async function precompile(entries: readonly string[]): Promise<Precompiled | null> {
  if (entries.length === 0 || !entries.every((e) => TYPESCRIPT.test(e))) return null;
  let files: string[];
  try {
    files = entries.map((e) => realpathSync(resolvePath(e)));
  } catch {
    return null;
  }
  const conditions = nodeConditions();
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: VERSION,
        node: process.versions.node,
        conditions,
        // Where tsx looks for its tsconfig.
        cwd: process.cwd(),
        tsconfig: process.env.TSX_TSCONFIG_PATH ?? null,
        files: [...files].sort(),
      }),
    )
    .digest('hex')
    .slice(0, 32);
  const recordFile = join(cacheDir(), `${key}.json`);
  try {
    const record = JSON.parse(readFileSync(recordFile, 'utf8')) as Compilation;
    if (unchanged(record.stamps)) return record.result;
  } catch {
    // Not compiled yet, or the record is unreadable: compile again.
  }
  try {
    const made = await compile(files, conditions);
    if (made === null) return null;
    remember(recordFile, made);
    return made.result;
  } catch {
    return null;
  }
}

/** Writes a record whole or not at all (another command may read it at the same time). */
function remember(file: string, record: Compilation): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(record));
    renameSync(tmp, file);
  } catch {
    // A cache that cannot be written costs the next command a compilation, nothing else.
  }
}

/**
 * The tsconfig tsx compiles with: the file TSX_TSCONFIG_PATH names, else the first tsconfig.json
 * from the working folder up; it applies to the files it includes, and no tsconfig to the others.
 */
async function tsxTsconfig(): Promise<TsConfigResult | null> {
  const { getTsconfig, parseTsconfig } = await import('get-tsconfig');
  const named = process.env.TSX_TSCONFIG_PATH;
  if (named !== undefined && named !== '') {
    const path = resolvePath(named);
    return { path, config: parseTsconfig(path) };
  }
  return getTsconfig(process.cwd());
}

/** Whether tsconfig file `path` extends another (read again at each parse, which the stamps do not follow). */
function extendsAnother(path: string): boolean {
  return /"extends"\s*:/.test(readFileSync(path, 'utf8'));
}

async function compile(entries: readonly string[], conditions: string[]): Promise<Compilation | null> {
  const tsconfig = await tsxTsconfig();
  // tsx resolves `paths` aliases itself: a driver that may use them goes to tsx.
  if (tsconfig?.config.compilerOptions?.paths !== undefined || tsconfig?.config.compilerOptions?.baseUrl !== undefined) return null;
  if (tsconfig !== null && extendsAnother(tsconfig.path)) return null;
  const includes = tsconfig === null ? null : (await import('get-tsconfig')).createFilesMatcher(tsconfig);
  const esbuild = await import('esbuild');
  const url = (path: string): string => pathToFileURL(path).href;
  // The imports the modules keep depend on the tsconfig (`verbatimModuleSyntax` keeps an import
  // only a type uses): the graph is followed with the one tsx compiles every module with, and
  // checked below to be that one.
  const graphOf = async (raw: TsConfigJsonResolved | null) => {
    const resolved: Record<string, string> = {};
    let unusual = false;
    const graph = await esbuild.build({
      entryPoints: [...entries],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'esm',
      target: `node${process.versions.node}`,
      // Node.js's resolution: the conditions it runs with, and a package's "main" alone.
      conditions,
      mainFields: ['main'],
      tsconfigRaw: (raw ?? {}) as TsconfigRaw,
      logLevel: 'silent',
      absWorkingDir: '/',
      // Several entries need a folder for their (unwritten) bundles.
      outdir: '/',
      outbase: '/',
      outExtension: { '.js': '.hmmlab.mjs' },
      plugins: [
        {
          name: 'hmmlab-graph',
          setup(b) {
            b.onResolve({ filter: /.*/ }, async (a) => {
              if (a.pluginData === GRAPH || a.kind === 'entry-point') return undefined;
              const r = await b.resolve(a.path, { kind: a.kind, importer: a.importer, resolveDir: a.resolveDir, pluginData: GRAPH });
              if (r.errors.length > 0) return { errors: r.errors };
              // `require` and the like: Node.js loads them as CommonJS, which neither loader compiles.
              if (a.kind !== 'import-statement' && a.kind !== 'dynamic-import') unusual = true;
              if (r.external || !isAbsolute(r.path)) return { path: a.path, external: true };
              const path = realpathSync(r.path);
              if (!RELATIVE.test(a.path)) {
                // A package's TypeScript (or a name tsx would resolve otherwise): tsx loads it.
                if (TYPESCRIPT.test(path)) unusual = true;
                return { path: a.path, external: true };
              }
              // A JavaScript or JSON module of the driver's own: tsx loads it. So it does a
              // `./x.js` that exists beside the `x.ts` it stands for, which tsx may prefer.
              const literal = resolvePath(a.resolveDir, a.path);
              if (!TYPESCRIPT.test(path) || (literal !== r.path && stamp(literal) !== null)) unusual = true;
              resolved[`${url(a.importer)}\n${a.path}`] = url(path);
              return { path };
            });
          },
        },
      ],
    });
    const ok = !unusual && graph.errors.length === 0 && graph.warnings.length === 0;
    return ok ? { resolved, sources: Object.keys(graph.metafile.inputs).map((p) => resolvePath('/', p)) } : null;
  };
  let graph = await graphOf(tsconfig?.config ?? null);
  if (graph === null) return null;
  const applies = graph.sources.map((f) => includes?.(f) !== undefined);
  // tsx compiles the files its tsconfig includes with it and the others without: the graph is
  // the one of those options only when they are all of one kind.
  if (applies.some((a) => a !== applies[0])) return null;
  const raw = applies[0] === true && tsconfig !== null ? tsconfig.config : null;
  if (raw === null && tsconfig !== null) graph = await graphOf(null);
  if (graph === null) return null;
  const stamps: Stamp[] = [];
  const seen = new Set<string>();
  const read = (path: string | null): void => {
    if (path === null || seen.has(path)) return;
    seen.add(path);
    const s = stamp(path);
    if (s !== null) stamps.push(s);
  };
  if (tsconfig !== null) read(tsconfig.path);
  else
    for (let dir = process.cwd(); ; dir = dirname(dir)) {
      // A tsconfig.json made later where tsx looks for one changes how it compiles.
      stamps.push(absent(join(dir, 'tsconfig.json')));
      if (dirname(dir) === dir) break;
    }
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const modules: Record<string, string> = {};
  for (const source of graph.sources) {
    if (!TYPESCRIPT.test(source)) return null;
    const pkg = packageJsonOf(source);
    if (!loadsAsModule(source, pkg)) return null;
    read(source);
    read(pkg);
    read(dirname(source));
    // Compiled as tsx compiles a module (its options but the source map, inline here, with the
    // path of the TypeScript file, so that stack traces give it).
    const out = await esbuild.transform(readFileSync(source, 'utf8'), {
      loader: source.endsWith('.tsx') ? 'tsx' : 'ts',
      format: 'esm',
      target: `node${process.versions.node}`,
      sourcemap: 'inline',
      sourcesContent: false,
      sourcefile: source,
      minifyWhitespace: true,
      keepNames: true,
      ...(raw === null ? {} : { tsconfigRaw: raw as TsconfigRaw }),
      logLevel: 'silent',
    });
    if (out.warnings.length > 0) return null;
    // An import Node.js would resolve by a name computed at run time.
    if (/\bimport\s*\(\s*(?!["'])/.test(out.code)) return null;
    const file = join(dir, `${createHash('sha256').update(out.code).digest('hex').slice(0, 32)}.mjs`);
    if (stamp(file) === null) {
      // Whole or not at all: another command's worker may be reading the same compiled module.
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, out.code);
      renameSync(tmp, file);
    }
    // A compiled module removed since (a cleaned temporary folder) is compiled again.
    read(file);
    modules[url(source)] = file;
  }
  return { stamps, result: { modules, resolved: graph.resolved } };
}
