/**
 * Type-checking the TypeScript code blocks of the documentation: each ```ts block of a page is
 * written to a file inside the repository (so `@hmmlab/*` resolve as workspace packages), and all
 * of them are checked with the options of tsconfig.base.json. A block titled with a file name
 * (```ts [driver.ts]) is written under that name, so later blocks of the page can import it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** One TypeScript block of a Markdown page. */
export interface Snippet {
  /** The page, relative to the repository root. */
  readonly page: string;
  /** Line of the page (1-based) where the code starts. */
  readonly line: number;
  /** The file name it is written to. */
  readonly name: string;
  readonly code: string;
}

const TS_LANGS = new Set(['ts', 'typescript', 'mts']);

/** The ```ts blocks of a page. */
export function extractSnippets(page: string, markdown: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)(.*)$/.exec(lines[i] as string);
    if (open === null) continue;
    const [, indent = '', fence = '', lang = '', info = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j] as string;
      if (l.trim().startsWith(fence) && l.trim().replace(/[`~]/g, '') === '') break;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l);
    }
    if (TS_LANGS.has(lang.toLowerCase())) {
      const title = /\[([\w.-]+\.ts)\]/.exec(info)?.[1];
      out.push({ page, line: i + 2, name: title ?? `block-${out.length + 1}-line-${i + 2}.ts`, code: body.join('\n') });
    }
    i = j;
  }
  return out;
}

/** A type error, located in its page. */
export interface SnippetError {
  readonly page: string;
  /** `docs/guide/x.md:12:5: TS2304 Cannot find name 'foo'.` */
  readonly message: string;
}

function compilerOptions(root: string): ts.CompilerOptions {
  const file = join(root, 'tsconfig.base.json');
  const read = ts.readConfigFile(file, (f) => ts.sys.readFile(f));
  if (read.error !== undefined) throw new Error(`tsconfig.base.json: ${ts.flattenDiagnosticMessageText(read.error.messageText, ' ')}`);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, file);
  return {
    ...parsed.options,
    noEmit: true,
    composite: false,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    incremental: false,
  };
}

/**
 * Writes `snippets` under `dir` (one folder per page) and type-checks them together; returns the
 * errors, each located at its line of the page.
 */
export function checkSnippets(root: string, dir: string, snippets: readonly Snippet[]): SnippetError[] {
  const where = new Map<string, Snippet>();
  for (const s of snippets) {
    const folder = join(dir, s.page.replace(/[^\w.-]+/g, '_'));
    mkdirSync(folder, { recursive: true });
    const file = join(folder, s.name);
    if (where.has(file)) throw new Error(`${s.page}:${s.line}: a second block is titled [${s.name}]; give each file block its own name`);
    writeFileSync(file, s.code);
    where.set(file, s);
  }
  const program = ts.createProgram({ rootNames: [...where.keys()], options: compilerOptions(root) });
  const errors: SnippetError[] = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = `TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    const s = d.file === undefined ? undefined : where.get(d.file.fileName);
    if (d.file === undefined || d.start === undefined) {
      errors.push({ page: '(global)', message: text });
    } else if (s === undefined) {
      errors.push({ page: '(outside the docs)', message: `${relative(root, d.file.fileName)}: ${text}` });
    } else {
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      errors.push({ page: s.page, message: `${s.page}:${s.line + line}:${character + 1}: ${text}` });
    }
  }
  return errors;
}
