/** Import upkeep after a codemod: names it introduced are imported from @hmmlab/core, names it removed are dropped. */
import { Project } from 'ts-morph';
import { compareNames, references } from './edits.js';

/** Names imported as types. */
const TYPE_NAMES = new Set(['Mm', 'Page']);
const MODULE = '@hmmlab/core';

/**
 * `text` with its `@hmmlab/core` import updated for the names in `touched`: added when the code
 * now refers to them, removed when it no longer does. The import is rewritten in Biome's style
 * (one line up to 140 columns, else one name per line), so an unchanged list keeps its text.
 */
export function fixImports(text: string, touched: ReadonlySet<string>): string {
  if (touched.size === 0) return text;
  const file = new Project({ useInMemoryFileSystem: true }).createSourceFile('/x.ts', text);
  const decl = file.getImportDeclarations().find((d) => d.getModuleSpecifierValue() === MODULE && !d.isTypeOnly());
  const specs = new Map<string, string>();
  for (const ni of decl?.getNamedImports() ?? []) specs.set(ni.getAliasNode()?.getText() ?? ni.getName(), ni.getText());
  let changed = false;
  for (const name of touched) {
    const used = references(file, name) > 0;
    if (used && !specs.has(name)) {
      specs.set(name, TYPE_NAMES.has(name) ? `type ${name}` : name);
      changed = true;
    } else if (!used && specs.has(name)) {
      specs.delete(name);
      changed = true;
    }
  }
  if (!changed) return text;
  const names = [...specs.values()].sort((a, b) => compareNames(a.replace(/^type /, ''), b.replace(/^type /, '')));
  const single = `import { ${names.join(', ')} } from '${MODULE}';`;
  const stmt =
    names.length === 0 ? '' : single.length <= 140 ? single : `import {\n${names.map((n) => `  ${n},\n`).join('')}} from '${MODULE}';`;
  if (decl === undefined) {
    const imports = file.getImportDeclarations();
    const last = imports[imports.length - 1];
    const at = last === undefined ? 0 : last.getEnd();
    return `${text.slice(0, at)}${last === undefined ? '' : '\n'}${stmt}${last === undefined ? '\n' : ''}${text.slice(at)}`;
  }
  if (stmt === '') {
    const end = text[decl.getEnd()] === '\n' ? decl.getEnd() + 1 : decl.getEnd();
    return text.slice(0, decl.getStart()) + text.slice(end);
  }
  return text.slice(0, decl.getStart()) + stmt + text.slice(decl.getEnd());
}
