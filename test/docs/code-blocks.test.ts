/**
 * Every TypeScript code block of docs/ type-checks against the workspace packages, with the
 * compiler options of tsconfig.base.json. A failure names the page and the line.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSnippets, extractSnippets, type Snippet, type SnippetError } from './snippets.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const docs = join(root, 'docs');

function pages(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (name.startsWith('.') || name === 'node_modules') continue;
    if (statSync(p).isDirectory()) out.push(...pages(p));
    else if (name.endsWith('.md')) out.push(relative(root, p));
  }
  return out;
}

const all = pages(docs);
const snippets: Snippet[] = all.flatMap((p) => extractSnippets(p, readFileSync(join(root, p), 'utf8')));
const withCode = [...new Set(snippets.map((s) => s.page))];
const tmp: string[] = [];

function scratch(): string {
  const d = mkdtempSync(join(root, 'test/docs/.snippets-'));
  tmp.push(d);
  return d;
}

afterAll(() => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

describe('extractSnippets', () => {
  it('should take ```ts blocks with their file titles and leave other languages', () => {
    const md = [
      '# x',
      '',
      '```ts [driver.ts]',
      'export const a = 1;',
      '```',
      '',
      '```sh',
      'npm test',
      '```',
      '',
      '```ts',
      'const b = 2;',
      '```',
    ].join('\n');
    expect(extractSnippets('docs/x.md', md)).toEqual([
      { page: 'docs/x.md', line: 4, name: 'driver.ts', code: 'export const a = 1;' },
      { page: 'docs/x.md', line: 12, name: 'block-2-line-12.ts', code: 'const b = 2;' },
    ]);
  });
});

describe('checkSnippets', () => {
  it('should report a type error at its line of the page', () => {
    const md = ['# x', '', '```ts', "import { hex } from '@hmmlab/core';", '', 'export const s: number = hex(4096);', '```'].join('\n');
    const errors = checkSnippets(root, scratch(), extractSnippets('docs/broken.md', md));
    expect(errors.map((e) => e.message)).toEqual(["docs/broken.md:6:14: TS2322 Type 'string' is not assignable to type 'number'."]);
  });

  it('should resolve a block titled with a file name from a later block of the page', () => {
    const md = [
      '```ts [lib.ts]',
      'export const n = 1;',
      '```',
      '',
      '```ts',
      "import { n } from './lib.js';",
      'export const m: number = n;',
      '```',
    ].join('\n');
    expect(checkSnippets(root, scratch(), extractSnippets('docs/ok.md', md))).toEqual([]);
  });
});

describe('the TypeScript blocks of docs/', () => {
  let errors: SnippetError[] = [];

  beforeAll(() => {
    errors = checkSnippets(root, scratch(), snippets);
  });

  it('should find the pages that teach with code', () => {
    expect(withCode).toEqual(expect.arrayContaining(['docs/guide/getting-started.md', 'docs/guide/flush-contract.md']));
  });

  it('should have no error outside the pages', () => {
    expect(errors.filter((e) => !e.page.startsWith('docs/'))).toEqual([]);
  });

  it.each(withCode)('should type-check every block of %s', (page) => {
    expect(errors.filter((e) => e.page === page).map((e) => e.message)).toEqual([]);
  });
});
