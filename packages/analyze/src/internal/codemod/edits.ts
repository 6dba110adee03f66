/**
 * Text edits that keep a file's formatting and comments: each change replaces a span of the
 * original text; edits are applied together at the end. Also the helpers codemods share: the
 * profile guard and import upkeep.
 */
import { Node, type SourceFile, SyntaxKind } from 'ts-morph';

/** One replacement of `[start, end)` of the original text. */
export interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** What a codemod did or could not do at one place. */
export interface Change {
  readonly line: number;
  readonly message: string;
}

/** The edits and notes of one file. */
export class FileEdits {
  readonly file: SourceFile;
  readonly edits: Edit[] = [];
  readonly changes: Change[] = [];
  readonly notes: Change[] = [];
  /** Names whose imports may need adding or removing afterwards. */
  readonly touched = new Set<string>();

  constructor(file: SourceFile) {
    this.file = file;
  }

  replace(n: Node, text: string, why: string): void {
    this.edits.push({ start: n.getStart(), end: n.getEnd(), text });
    this.changes.push({ line: n.getStartLineNumber(), message: why });
  }

  span(start: number, end: number, text: string): void {
    this.edits.push({ start, end, text });
  }

  note(n: Node, message: string): void {
    this.notes.push({ line: n.getStartLineNumber(), message });
  }

  /** The file's text with every edit applied (later edits inside earlier ones are dropped). */
  apply(): string {
    return applyEdits(this.file.getFullText(), this.edits);
  }
}

/** `text` with `edits` applied; an edit that starts inside an earlier one is dropped. */
export function applyEdits(text: string, edits: readonly { start: number; end: number; text: string }[]): string {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  let out = '';
  let pos = 0;
  for (const e of sorted) {
    if (e.start < pos) continue;
    out += text.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + text.slice(pos);
}

const GUARD = /\b(profile|era)\b|\.(ownerField|migrateSelect|select|migratePfnLocked|pfnLocked|exclusive|deviceCoherent|faultPage)\b/;

/**
 * True if `n` sits in a branch that tests the kernel profile (`if (era.select === 'flags')`,
 * `profile.exclusive === 'single' ? … : …`): code written for several profiles is left alone.
 */
export function profileGuarded(n: Node): boolean {
  let child: Node = n;
  for (let p = n.getParent(); p !== undefined; child = p, p = p.getParent()) {
    if (Node.isIfStatement(p) && child !== p.getExpression() && GUARD.test(p.getExpression().getText())) return true;
    if (Node.isConditionalExpression(p) && child !== p.getCondition() && GUARD.test(p.getCondition().getText())) return true;
    if (Node.isSwitchStatement(p) && GUARD.test(p.getExpression().getText())) return true;
  }
  return false;
}

/** The indentation of the line `n` starts on. */
export function indentOf(n: Node): string {
  const text = n.getSourceFile().getFullText();
  const lineStart = text.lastIndexOf('\n', n.getStart() - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart))?.[0] ?? '';
}

/** The span of the whole lines `n` covers, with their line break (for deleting a statement or property line). */
export function lineSpan(n: Node): { start: number; end: number } {
  const text = n.getSourceFile().getFullText();
  const start = text.lastIndexOf('\n', n.getStart() - 1) + 1;
  let end = text.indexOf('\n', n.getEnd());
  end = end < 0 ? text.length : end + 1;
  return { start, end };
}

/** Biome's import order: case-insensitive, uppercase first where the letters tie. */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x === y) continue;
    const lx = x.toLowerCase();
    const ly = y.toLowerCase();
    if (lx !== ly) return lx < ly ? -1 : 1;
    return x === x.toUpperCase() ? -1 : 1;
  }
  return a.length - b.length;
}

/** Identifiers named `name` outside import declarations. */
export function references(file: SourceFile, name: string): number {
  return file
    .getDescendantsOfKind(SyntaxKind.Identifier)
    .filter((i) => i.getText() === name && i.getFirstAncestorByKind(SyntaxKind.ImportDeclaration) === undefined).length;
}
