/** Test helpers: temporary copies of sources, and a type check of a folder as the repo configures it. */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project, ts } from 'ts-morph';

/** The root of this repository. */
export const REPO = resolve(fileURLToPath(new URL('../../../../../', import.meta.url)));

/** A fresh temporary folder; `dispose()` removes it. */
export function tempDir(prefix: string): { readonly path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), `hmmlab-${prefix}-`));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

/** Copies the repo's `examples/` (without its node_modules, which is linked instead) into `dir`. */
export function copyExamples(dir: string): string {
  const dest = join(dir, 'examples');
  cpSync(join(REPO, 'examples'), dest, { recursive: true, filter: (src) => !src.includes('node_modules') });
  symlinkSync(join(REPO, 'examples', 'node_modules'), join(dest, 'node_modules'));
  return dest;
}

/** Every file under `dir` (node_modules aside), relative path → text. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (name === 'node_modules') continue;
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

/**
 * The project {@link typeErrors} checks in. One for every check: the library, `@types/node` and
 * hmmlab's declarations are parsed once, not at every check (most of a check's time).
 */
let checker: Project | null = null;

/** Type errors of the `.ts` files under `dir`, with the repository's compiler options (sources through `@hmmlab/source`). */
export function typeErrors(dir: string): string[] {
  checker ??= new Project({
    compilerOptions: {
      target: ts.ScriptTarget.ES2023,
      lib: ['lib.es2023.d.ts'],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      noImplicitOverride: true,
      skipLibCheck: true,
      noEmit: true,
      customConditions: ['@hmmlab/source'],
      types: ['node'],
      typeRoots: [join(REPO, 'node_modules', '@types')],
    },
  });
  const project = checker;
  // The files of earlier checks leave the project, and so does every file outside the packages
  // and node_modules (a test may have changed it since); what stays cannot have changed.
  const packages = join(REPO, 'packages');
  for (const sf of project.getSourceFiles()) {
    const path = sf.getFilePath();
    if (!path.includes('/node_modules/') && !path.startsWith(`${packages}/`)) project.removeSourceFile(sf);
  }
  project.addSourceFilesAtPaths([`${dir}/**/*.ts`, `!${dir}/**/node_modules/**`]);
  return project
    .getPreEmitDiagnostics()
    .filter((d) => d.getSourceFile()?.getFilePath().startsWith(dir) ?? true)
    .map(
      (d) =>
        `${d.getSourceFile()?.getFilePath() ?? ''}:${d.getLineNumber() ?? 0} ${String(ts.flattenDiagnosticMessageText(d.getMessageText() as string, '\n'))}`,
    );
}
