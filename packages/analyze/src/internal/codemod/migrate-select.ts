/**
 * `struct migrate_vma` selection across profiles (5143192cd410, v5.9): `srcOwner` (set: only
 * device-private pages of that owner; unset: only system pages) ↔ `pgmapOwner` plus
 * `MIGRATE_VMA_SELECT_DEVICE_PRIVATE` / `MIGRATE_VMA_SELECT_SYSTEM`. Going back to `srcOwner`
 * drops the owner of a system migration; a `// hmmlab-codemod:` comment keeps it so the way
 * forward restores it.
 */
import { Node, type ObjectLiteralExpression, SyntaxKind } from 'ts-morph';
import { type FileEdits, indentOf, lineSpan, profileGuarded } from './edits.js';
import type { ProfileApi } from './profiles.js';

const SYSTEM = 'MIGRATE_VMA_SELECT_SYSTEM';
const PRIVATE = 'MIGRATE_VMA_SELECT_DEVICE_PRIVATE';
const MARK = /^[ \t]*\/\/ hmmlab-codemod: pgmapOwner: (.*)\n/m;

function prop(o: ObjectLiteralExpression, name: string): Node | undefined {
  return o.getProperties().find((p) => (Node.isPropertyAssignment(p) || Node.isShorthandPropertyAssignment(p)) && p.getName() === name);
}

function valueText(p: Node): string {
  return Node.isPropertyAssignment(p) ? (p.getInitializer()?.getText() ?? '') : p.getText();
}

/**
 * Rewrites the properties of `o` in its layout: a one-line literal is rebuilt as `{ a, b }`; in a
 * multi-line one, removed properties lose their lines and added ones go last, one per line.
 */
function rewriteLiteral(
  fe: FileEdits,
  o: ObjectLiteralExpression,
  change: { remove?: Node[]; replace?: Map<Node, string>; add?: string[] },
): void {
  const remove = new Set(change.remove ?? []);
  const add = change.add ?? [];
  const props = o.getProperties();
  if (!o.getText().includes('\n')) {
    const kept = props.filter((p) => !remove.has(p)).map((p) => change.replace?.get(p) ?? p.getText());
    const all = [...kept, ...add];
    fe.span(o.getStart(), o.getEnd(), all.length === 0 ? '{}' : `{ ${all.join(', ')} }`);
    return;
  }
  for (const p of remove) {
    const { start, end } = lineSpan(p);
    fe.span(start, end, '');
  }
  for (const [p, text] of change.replace ?? []) fe.span(p.getStart(), p.getEnd(), text);
  const last = [...props].reverse().find((p) => !remove.has(p));
  if (add.length === 0 || last === undefined) return;
  const src = fe.file.getFullText();
  const comma = /^\s*,/.exec(src.slice(last.getEnd()));
  const at = comma === null ? last.getEnd() : last.getEnd() + comma[0].length;
  const lines = add.map((a) => `\n${indentOf(last)}${a},`).join('');
  fe.span(at, at, comma === null ? `,${lines.slice(0, -1)}` : lines);
}

/** The statement that holds `n`. */
function statementOf(n: Node): Node {
  let s: Node = n;
  while (!Node.isStatement(s) && s.getParent() !== undefined) s = s.getParentOrThrow();
  return s;
}

function toFlags(fe: FileEdits, o: ObjectLiteralExpression, from: ProfileApi, to: ProfileApi): void {
  const src = prop(o, 'srcOwner');
  if (prop(o, 'flags') !== undefined || prop(o, 'pgmapOwner') !== undefined) return;
  const why = `MigrateVma srcOwner → pgmapOwner + flags (profile ${from.name} → ${to.name})`;
  if (src !== undefined) {
    const sep = o.getText().includes('\n') ? `,\n${indentOf(src)}` : ', ';
    rewriteLiteral(fe, o, { replace: new Map([[src, `pgmapOwner: ${valueText(src)}${sep}flags: ${PRIVATE}`]]) });
    fe.changes.push({ line: src.getStartLineNumber(), message: why });
    fe.touched.add(PRIVATE);
    return;
  }
  const fn = o.getFirstAncestor((a) => Node.isFunctionLikeDeclaration(a) || Node.isArrowFunction(a) || Node.isFunctionExpression(a));
  if (fn !== undefined && /\.(flags|pgmapOwner|srcOwner)\s*=[^=]/.test(fn.getText())) {
    fe.note(o, 'the selection is assigned after the MigrateVma is built: left as it is');
    return;
  }
  const st = statementOf(o);
  const trivia = st.getFullText().slice(0, st.getStart() - st.getPos());
  const mark = MARK.exec(trivia);
  if (mark !== null) fe.span(st.getPos() + mark.index, st.getPos() + mark.index + mark[0].length, '');
  rewriteLiteral(fe, o, { add: [...(mark === null ? [] : [`pgmapOwner: ${mark[1]}`]), `flags: ${SYSTEM}`] });
  fe.changes.push({ line: o.getStartLineNumber(), message: `${why}: no srcOwner, so MIGRATE_VMA_SELECT_SYSTEM` });
  if (mark === null) fe.note(o, 'set pgmapOwner to your pgmap owner so the callback can recognize its own MMU_NOTIFY_MIGRATE');
  fe.touched.add(SYSTEM);
}

function toSrcOwner(fe: FileEdits, o: ObjectLiteralExpression, from: ProfileApi, to: ProfileApi): void {
  const flags = prop(o, 'flags');
  const owner = prop(o, 'pgmapOwner');
  if (flags === undefined) return;
  const f = valueText(flags);
  const why = `MigrateVma pgmapOwner + flags → srcOwner (profile ${from.name} → ${to.name})`;
  if (f === PRIVATE && owner !== undefined) {
    rewriteLiteral(fe, o, { remove: [flags], replace: new Map([[owner, `srcOwner: ${valueText(owner)}`]]) });
  } else if (f === SYSTEM) {
    rewriteLiteral(fe, o, { remove: owner === undefined ? [flags] : [owner, flags] });
    if (owner !== undefined) {
      const st = statementOf(o);
      fe.span(st.getStart(), st.getStart(), `// hmmlab-codemod: pgmapOwner: ${valueText(owner)}\n${indentOf(st)}`);
    }
  } else {
    fe.note(
      flags,
      `flags \`${f}\` cannot be said with srcOwner (the v5.7 API selects system or one owner's device-private pages); rewrite by hand`,
    );
    return;
  }
  fe.changes.push({ line: o.getStartLineNumber(), message: why });
  fe.touched.add(SYSTEM).add(PRIVATE);
}

/** Rewrites `new MigrateVma({...})` selections between the two APIs. */
export function rewriteMigrateSelect(fe: FileEdits, from: ProfileApi, to: ProfileApi): void {
  if (from.select === to.select) return;
  for (const ne of fe.file.getDescendantsOfKind(SyntaxKind.NewExpression)) {
    if (ne.getExpression().getText() !== 'MigrateVma') continue;
    const arg = ne.getArguments()[0];
    if (arg === undefined || !Node.isObjectLiteralExpression(arg) || profileGuarded(ne)) continue;
    if (to.select === 'flags') toFlags(fe, arg, from, to);
    else toSrcOwner(fe, arg, from, to);
  }
  for (const bin of fe.file.getDescendantsOfKind(SyntaxKind.BinaryExpression)) {
    const left = bin.getLeft();
    if (bin.getOperatorToken().getKind() !== SyntaxKind.EqualsToken || !Node.isPropertyAccessExpression(left)) continue;
    const field = left.getName();
    if (!['srcOwner', 'pgmapOwner', 'flags'].includes(field) || profileGuarded(bin)) continue;
    if (to.select === 'flags' && field === 'srcOwner') {
      const obj = left.getExpression().getText();
      fe.replace(
        bin,
        `${obj}.pgmapOwner = ${bin.getRight().getText()};\n${indentOf(bin)}${obj}.flags = ${PRIVATE}`,
        'srcOwner = … → pgmapOwner + flags',
      );
      fe.touched.add(PRIVATE);
    } else if (to.select === 'src_owner' && field !== 'srcOwner') {
      fe.note(
        bin,
        `\`${bin.getText()}\`: assigned selection fields are not rewritten; use srcOwner (set for device-private pages of that owner, unset for system pages)`,
      );
    }
  }
}
