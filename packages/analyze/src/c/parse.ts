/**
 * The C parser: tree-sitter's C grammar run through `web-tree-sitter` (WebAssembly, no native
 * build). Both wasm files ship inside the npm packages (`web-tree-sitter.wasm`,
 * `tree-sitter-c.wasm`) and are found through Node's module resolution, so the parser works
 * offline and from an installed tarball. Kernel macros parse as calls (`container_of(...)`,
 * `guard(mutex)(&l)`); a loop macro (`list_for_each_entry(...) { }`) parses as a call statement
 * followed by a block, which the interpreter treats as a loop.
 */
import { createRequire } from 'node:module';
import { Language, type Node, Parser } from 'web-tree-sitter';

export type { Node as CNode } from 'web-tree-sitter';

let loading: Promise<Parser> | undefined;

/** The C parser, loaded once per process. */
export function cParser(): Promise<Parser> {
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    await Parser.init();
    const lang = await Language.load(require.resolve('tree-sitter-c/tree-sitter-c.wasm'));
    const p = new Parser();
    p.setLanguage(lang);
    return p;
  })();
  return loading;
}

/** The named children of `n` that carry a field `name`, or every named child. */
export function kids(n: Node): Node[] {
  return n.namedChildren.filter((c): c is Node => c !== null);
}

/** The text of a node with its whitespace collapsed: how a condition is shown to a reader. */
export function textOf(n: Node): string {
  return n.text.replace(/\s+/g, ' ').trim();
}

/** 1-based line of a node. */
export function lineOf(n: Node): number {
  return n.startPosition.row + 1;
}
