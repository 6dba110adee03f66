/**
 * Type-checks driver modules before running them, so that a driver with a type error fails with
 * the file and line instead of misbehaving at run time.
 */
import { createRequire } from 'node:module';
import type * as TS from 'typescript';

// The compiler takes a few hundred milliseconds to load: only `hmmlab fuzz` with type checking on needs it.
let compiler: typeof TS | null = null;
function typescript(): typeof TS {
  compiler ??= createRequire(import.meta.url)('typescript') as typeof TS;
  return compiler;
}

/**
 * Type errors of `files`, one line each (`file:line:col: message`); empty when they check. Most
 * drivers use no Node.js API: they are checked first against the ES2023 library alone, without
 * the Node.js typings and the DOM library (nine tenths of the text a check parses otherwise);
 * only when that finds an error are they checked again with both, and that check's errors are
 * returned.
 */
export function typecheck(files: readonly string[]): string[] {
  const lean = check(files, false);
  return lean.length === 0 ? lean : check(files, true);
}

function check(files: readonly string[], full: boolean): string[] {
  const ts = typescript();
  const options: TS.CompilerOptions = {
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    allowImportingTsExtensions: true,
    customConditions: ['@hmmlab/source'],
    ...(full ? { types: ['node'] } : { types: [], lib: ['lib.es2023.d.ts'] }),
  };
  const program = ts.createProgram({ rootNames: [...files], options });
  const diags = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file === undefined || files.includes(d.file.fileName) || !d.file.fileName.includes('node_modules'));
  return diags.map((d) => {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file === undefined || d.start === undefined) return msg;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName}:${line + 1}:${character + 1}: ${msg}`;
  });
}
