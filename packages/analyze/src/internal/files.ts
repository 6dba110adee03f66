/** The TypeScript files a command works on: files as named, folders searched for driver sources. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { AnalyzeError } from './errors.js';

const SKIP_DIRS = new Set(['node_modules', 'dist', 'fixtures', 'coverage']);

function isSource(name: string): boolean {
  return /\.(m|c)?ts$/.test(name) && !/\.d\.(m|c)?ts$/.test(name) && !/\.test(-d)?\.(m|c)?ts$/.test(name);
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!SKIP_DIRS.has(name) && !name.startsWith('.')) walk(p, out);
    } else if (isSource(name)) out.push(p);
  }
}

/**
 * The source files of `paths` (absolute, sorted, without duplicates). A folder stands for its
 * `.ts` files, tests, declarations, `node_modules`, `dist` and `fixtures` left out. `api` names
 * the caller in errors.
 */
export function expandPaths(api: string, paths: readonly string[]): string[] {
  return expandSourcePaths(api, paths, walk, '.ts driver sources', (f) => /\.(m|c)?[tj]s$/.test(f));
}

/**
 * The files of `paths` (absolute, sorted, without duplicates): a file as named, a folder through
 * `find` (which appends the sources below it). `what` names those sources in the error of a
 * folder that holds none, and of a file named that `accepts` refuses (a log passed by mistake
 * would otherwise be read as a source and reported as a syntax error).
 */
export function expandSourcePaths(
  api: string,
  paths: readonly string[],
  find: (dir: string, out: string[]) => void,
  what: string,
  accepts: (file: string) => boolean = () => true,
): string[] {
  if (paths.length === 0) throw new AnalyzeError('ERR_NO_FILES', `${api}: no paths given; pass driver files or folders`);
  const out = new Set<string>();
  for (const p of paths) {
    const abs = resolve(p);
    if (!existsSync(abs))
      throw new AnalyzeError('ERR_NO_SUCH_FILE', `${api}: no such file or folder: ${p}; pass an existing driver file or folder`);
    if (statSync(abs).isDirectory()) {
      const found: string[] = [];
      find(abs, found);
      if (found.length === 0) throw new AnalyzeError('ERR_NO_FILES', `${api}: folder ${p} holds no ${what}`);
      for (const f of found) out.add(f);
    } else if (!accepts(abs)) {
      throw new AnalyzeError('ERR_NO_FILES', `${api}: ${p} is not one of the ${what}; pass driver files or folders`);
    } else out.add(abs);
  }
  return [...out].sort();
}

/** `file` relative to `cwd` when it lies under it, else absolute. */
export function displayPath(file: string, cwd: string): string {
  const r = relative(cwd, file);
  return r.startsWith('..') || r === '' ? file : r;
}
