/** Syntax errors of a driver source: the static checks refuse a file TypeScript cannot parse. */
import type { SourceFile, ts } from 'ts-morph';
import { AnalyzeError } from './errors.js';
import { displayPath } from './files.js';

/**
 * Throws an `ERR_PARSE` {@link AnalyzeError} naming the first syntax error of `file`
 * (`path:line:col: parser message`, the path relative to `cwd`). The parser recovers from
 * errors and still builds a tree, so without this check a broken file would lint as clean.
 */
export function assertParses(api: string, file: SourceFile, cwd: string): void {
  // The parser keeps its diagnostics on each source file; they are not in the public typings.
  const node = file.compilerNode as ts.SourceFile & { readonly parseDiagnostics?: readonly ts.DiagnosticWithLocation[] };
  const first = node.parseDiagnostics?.[0];
  if (first === undefined) return;
  const { line, character } = node.getLineAndCharacterOfPosition(first.start);
  const text = typeof first.messageText === 'string' ? first.messageText : first.messageText.messageText;
  const where = `${displayPath(file.getFilePath(), cwd)}:${line + 1}:${character + 1}`;
  throw new AnalyzeError('ERR_PARSE', `${api}: syntax error at ${where}: ${text}`);
}
