/**
 * Type-checks driver modules before running them, so that a driver with a type error fails with
 * the file and line instead of misbehaving at run time. A check that passes is remembered, with
 * the size and modification time of every file it read (the drivers, what they import, hmmlab's
 * declarations, the TypeScript library): while none of them changes, the same check passes again
 * without loading the compiler.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as TS from 'typescript';
import { type Stamp, stamp, unchanged } from './stamps.js';

// The compiler takes a few hundred milliseconds to load: only `hmmlab fuzz` with type checking on needs it.
let compiler: typeof TS | null = null;
function typescript(): typeof TS {
  compiler ??= createRequire(import.meta.url)('typescript') as typeof TS;
  return compiler;
}

/**
 * Type errors of the TypeScript files among `modules`, one line each (`file:line:col: message`); empty when they check. Most
 * drivers use no Node.js API: they are checked first against the ES2023 library alone, without
 * the Node.js typings and the DOM library (nine tenths of the text a check parses otherwise);
 * only when that finds an error are they checked again with both, and that check's errors are
 * returned.
 */
export function typecheck(modules: readonly string[]): string[] {
  // JavaScript driver modules have no types to check.
  const files = modules.filter((f) => /\.[mc]?tsx?$/.test(f));
  if (files.length === 0) return [];
  const record = recordFile(files);
  if (stillPasses(record)) return [];
  const lean = check(files, false);
  if (lean.errors.length === 0) {
    remember(record, lean.read);
    return [];
  }
  const full = check(files, true);
  if (full.errors.length === 0) remember(record, full.read);
  return full.errors;
}

/** What a check passed on: each file read, with its size and modification time. */
type Stamps = readonly Stamp[];

/** Where the passing check of `files`, run from this working directory, is remembered. */
function recordFile(files: readonly string[]): string {
  const key = createHash('sha256')
    .update(JSON.stringify({ v: 1, cwd: process.cwd(), files: [...files].sort() }))
    .digest('hex')
    .slice(0, 32);
  return join(tmpdir(), `hmmlab-typecheck-${process.getuid?.() ?? 'user'}`, `${key}.json`);
}

/** True when the record says the check passed and no file it read has changed since. */
function stillPasses(record: string): boolean {
  let read: Stamps;
  try {
    read = JSON.parse(readFileSync(record, 'utf8')) as Stamps;
  } catch {
    return false; // no record yet, or an unreadable one: check
  }
  return Array.isArray(read) && read.length > 0 && unchanged(read);
}

function remember(record: string, read: readonly string[]): void {
  const stamps = read.map(stamp);
  if (stamps.some((x) => x === null)) return;
  try {
    mkdirSync(join(record, '..'), { recursive: true });
    writeFileSync(record, JSON.stringify(stamps));
  } catch {
    // An unwritable temporary folder only means the next run checks again.
  }
}

function check(files: readonly string[], full: boolean): { errors: string[]; read: string[] } {
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
    .filter((d) => d.file === undefined || files.includes(d.file.fileName) || !d.file.fileName.includes('node_modules'))
    // A project without @types/node (TS2688, "Cannot find type definition file for 'node'"): the
    // typings only add names, and that error would come first and hide the driver's own.
    .filter((d) => d.code !== 2688);
  const errors = diags.map((d) => {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file === undefined || d.start === undefined) return msg;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName}:${line + 1}:${character + 1}: ${msg}`;
  });
  return { errors, read: program.getSourceFiles().map((f) => f.fileName) };
}
