/**
 * Where mutants run: a copy of the driver's source files in a temporary folder, at the same
 * absolute path below it, with every `node_modules` the originals resolve through linked at the
 * same place, so that relative imports and bare imports (`@hmmlab/harness`) resolve as they do
 * for the original. The source tree is never written. One tree per concurrent mutant.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A copy of a driver's files. */
export interface MutantTree {
  /** The copy of `original` (an absolute path) in this tree. */
  at(original: string): string;
  /** Writes `text` in place of `original` in this tree; `restore()` puts the original back. */
  write(original: string, text: string): void;
  restore(original: string): void;
}

/** The temporary folder of a mutation run; `dispose()` removes it. */
export interface MutantTrees {
  readonly trees: readonly MutantTree[];
  dispose(): void;
}

/** `count` copies of `files` (absolute paths), each with the `node_modules` folders of their ancestors linked. */
export function mutantTrees(files: readonly string[], count: number): MutantTrees {
  const root = mkdtempSync(join(tmpdir(), 'hmmlab-mutate-'));
  const trees: MutantTree[] = [];
  for (let k = 0; k < count; k++) {
    const base = join(root, String(k));
    const at = (original: string): string => join(base, original);
    const dirs = new Set<string>();
    for (const f of files) {
      mkdirSync(dirname(at(f)), { recursive: true });
      copyFileSync(f, at(f));
      for (let d = dirname(f); ; d = dirname(d)) {
        dirs.add(d);
        if (dirname(d) === d) break;
      }
    }
    for (const d of dirs) mkdirSync(at(d), { recursive: true });
    for (const d of dirs) {
      // package.json says how Node loads the files ("type": "module"); tsconfig.json how tsx compiles them.
      for (const f of ['package.json', 'tsconfig.json', 'tsconfig.base.json'])
        if (existsSync(join(d, f))) copyFileSync(join(d, f), at(join(d, f)));
      const nm = join(d, 'node_modules');
      if (!existsSync(nm) || existsSync(at(nm))) continue;
      symlinkSync(nm, at(nm), 'dir');
    }
    trees.push({
      at,
      write: (original, text) => writeFileSync(at(original), text),
      restore: (original) => copyFileSync(original, at(original)),
    });
  }
  return { trees, dispose: () => rmSync(root, { recursive: true, force: true }) };
}
