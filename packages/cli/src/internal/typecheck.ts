/**
 * Type-checks driver modules before running them, so that a driver with a type error fails with
 * the file and line instead of misbehaving at run time.
 */
import ts from 'typescript';

/** Type errors of `files`, one line each (`file:line:col: message`); empty when they check. */
export function typecheck(files: readonly string[]): string[] {
  const options: ts.CompilerOptions = {
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
