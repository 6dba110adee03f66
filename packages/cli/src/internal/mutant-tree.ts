/**
 * Where mutants run: a copy of the driver's source files in a temporary folder, at the same
 * absolute path below it, with the `package.json` and `node_modules` of every ancestor folder at
 * the same place (copied, or linked for `node_modules`), so that relative and
 * bare imports (`@hmmlab/harness`) resolve and load as they do for the original. The source
 * tree is never written. Each mutant gets its own copy: a worker that loaded one mutant's
 * modules loads the next one's from other paths.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The temporary folder of a mutation run. */
export interface MutantTrees {
  /**
   * A fresh copy of the files, numbered `n`, with `file` (one of them) holding `text`; returns
   * the copy of `entry`.
   */
  make(n: number, file: string, text: string, entry: string): string;
  /** Removes copy `n`. */
  remove(n: number): void;
  /** Removes the folder. */
  dispose(): void;
}

/** Copies of `files` (absolute paths). */
export function mutantTrees(files: readonly string[]): MutantTrees {
  const root = mkdtempSync(join(tmpdir(), 'hmmlab-mutate-'));
  const dirs = new Set<string>();
  for (const f of files) {
    for (let d = dirname(f); ; d = dirname(d)) {
      dirs.add(d);
      if (dirname(d) === d) break;
    }
  }
  return {
    make(n, file, text, entry) {
      const at = (p: string): string => join(root, String(n), p);
      for (const d of dirs) mkdirSync(at(d), { recursive: true });
      for (const f of files) copyFileSync(f, at(f));
      writeFileSync(at(file), text);
      for (const d of dirs) {
        // package.json says how Node loads the files ("type": "module"). tsconfig.json stays out: its
        // relative `references` would name folders the copy does not have.
        if (existsSync(join(d, 'package.json'))) copyFileSync(join(d, 'package.json'), at(join(d, 'package.json')));
        const nm = join(d, 'node_modules');
        if (existsSync(nm)) symlinkSync(nm, at(nm), 'dir');
      }
      return at(entry);
    },
    remove: (n) => rmSync(join(root, String(n)), { recursive: true, force: true }),
    dispose: () => rmSync(root, { recursive: true, force: true }),
  };
}
